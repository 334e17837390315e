using AgentSentinel.Core;

namespace AgentSentinel.Api;

/// <summary>Every log message of the host, source-generated. Event ids 2000-2099.</summary>
internal static partial class ApiLog
{
    public static void UnhandledException(ILogger logger, Exception exception, string method, string path) =>
        UnhandledExceptionCore(logger, exception, ControlCharacters.Escape(method)!, ControlCharacters.Escape(path)!);

    [LoggerMessage(2000, LogLevel.Error, "Unhandled exception for {Method} {Path}", EventName = "UnhandledException")]
    private static partial void UnhandledExceptionCore(ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(2001, LogLevel.Warning, "No API key exists yet: an admin key was created and written to {Path} (readable only by this user). Read it with: cat \"{Path}\"")]
    public static partial void InitialAdminKeyWritten(ILogger logger, string path);

    [LoggerMessage(2002, LogLevel.Information, "Agent Sentinel Approval Inbox is running on {Provider}. Open {Url}  API reference: {Url}scalar  Health: {Url}health/ready")]
    public static partial void Started(ILogger logger, string provider, string url);

    public static void ApiKeyCreated(ILogger logger, string keyId, string name, string scopes, string actor) =>
        ApiKeyCreatedCore(logger, keyId, ControlCharacters.Escape(name)!, scopes, ControlCharacters.Escape(actor)!);

    [LoggerMessage(2003, LogLevel.Information, "API key {KeyId} ({Name}) created with scopes {Scopes} by {Actor}", EventName = "ApiKeyCreated")]
    private static partial void ApiKeyCreatedCore(ILogger logger, string keyId, string name, string scopes, string actor);

    [LoggerMessage(2004, LogLevel.Information, "API key {KeyId} revoked by {Actor}")]
    public static partial void ApiKeyRevoked(ILogger logger, string keyId, string actor);

    [LoggerMessage(2005, LogLevel.Information, "Setting {Key} changed to version {Version} by {Actor}")]
    public static partial void SettingChanged(ILogger logger, string key, long version, string actor);

    [LoggerMessage(2006, LogLevel.Information, "The first admin key is in {Path}")]
    public static partial void InitialAdminKeyExists(ILogger logger, string path);

    [LoggerMessage(2007, LogLevel.Debug, "Callback {DeliveryId} ({Event}) created for approval {ApprovalId}")]
    public static partial void CallbackCreated(ILogger logger, Guid approvalId, string deliveryId, string @event);

    [LoggerMessage(2009, LogLevel.Information, "Callback {DeliveryId} of approval {ApprovalId} delivered on try {Attempt} ({Status})")]
    public static partial void CallbackDelivered(ILogger logger, Guid approvalId, string deliveryId, int attempt, int status);

    [LoggerMessage(2010, LogLevel.Warning, "Callback {DeliveryId} of approval {ApprovalId}: try {Attempt} failed ({Status}); next try at {NextAttemptAt}")]
    public static partial void CallbackRetryScheduled(ILogger logger, Guid approvalId, string deliveryId, int attempt, int? status, DateTimeOffset nextAttemptAt);

    public static void CallbackFailed(ILogger logger, Guid approvalId, string deliveryId, int attempts, string reason) =>
        CallbackFailedCore(logger, approvalId, deliveryId, attempts, ControlCharacters.Escape(reason)!);

    [LoggerMessage(2011, LogLevel.Warning, "Callback {DeliveryId} of approval {ApprovalId} failed after {Attempts} tries: {Reason}", EventName = "CallbackFailed")]
    private static partial void CallbackFailedCore(ILogger logger, Guid approvalId, string deliveryId, int attempts, string reason);

    [LoggerMessage(2012, LogLevel.Information, "Callback sweep queued or created {Count} callbacks")]
    public static partial void CallbackSweep(ILogger logger, int count);

    [LoggerMessage(2013, LogLevel.Information, "The callback signing secret of API key {KeyId} was {Change} by {Actor}")]
    public static partial void CallbackSecretChanged(ILogger logger, string keyId, string change, string actor);

    [LoggerMessage(2014, LogLevel.Warning, "Start-up recovery (expiries and chat posts missed while the server was down) failed; trying again at {RetryAt}")]
    public static partial void StartupRecoveryFailed(ILogger logger, Exception exception, DateTimeOffset retryAt);

    [LoggerMessage(2015, LogLevel.Warning, "The recurring job {JobId} could not be registered at start-up: its lock is held (a process killed while holding it leaves it behind until it times out); the job stays as registered before, and the registration is tried again in the background")]
    public static partial void RecurringJobLocked(ILogger logger, string jobId);

    [LoggerMessage(2080, LogLevel.Error, "MCP tool {Tool} failed")]
    public static partial void McpToolFailed(ILogger logger, Exception exception, string tool);

    public static void OidcSignInFailed(ILogger logger, string failure, string message) =>
        OidcSignInFailedCore(logger, failure, ControlCharacters.Escape(message.Length > 300 ? message[..300] : message)!);

    [LoggerMessage(2090, LogLevel.Warning, "A console sign-in through the identity provider failed ({Failure}): {Message}", EventName = "OidcSignInFailed")]
    private static partial void OidcSignInFailedCore(ILogger logger, string failure, string message);

    [LoggerMessage(2091, LogLevel.Warning, "The console refused the sign-in of person {PersonId}: {Reason}")]
    public static partial void OidcSignInRefused(ILogger logger, string personId, string reason);

    [LoggerMessage(2092, LogLevel.Information, "Person {PersonId} signed in to the console through the identity provider with scopes {Scopes}")]
    public static partial void OidcSignedIn(ILogger logger, string personId, string scopes);

    [LoggerMessage(2093, LogLevel.Warning, "The identity provider's metadata could not be read; signing out ends the console session only")]
    public static partial void OidcMetadataUnavailable(ILogger logger, Exception exception);
}
