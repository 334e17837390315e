namespace AgentSentinel.Api;

/// <summary>Every log message of the host, source-generated. Event ids 2000-2099.</summary>
internal static partial class ApiLog
{
    [LoggerMessage(2000, LogLevel.Error, "Unhandled exception for {Method} {Path}")]
    public static partial void UnhandledException(ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(2001, LogLevel.Warning, "No API key exists yet: an admin key was created and written to {Path} (readable only by this user). Read it with: cat \"{Path}\"")]
    public static partial void InitialAdminKeyWritten(ILogger logger, string path);

    [LoggerMessage(2002, LogLevel.Information, "Agent Sentinel Approval Inbox is running on {Provider}. Open {Url}  API reference: {Url}scalar  Health: {Url}health/ready")]
    public static partial void Started(ILogger logger, string provider, string url);

    [LoggerMessage(2003, LogLevel.Information, "API key {KeyId} ({Name}) created with scopes {Scopes} by {Actor}")]
    public static partial void ApiKeyCreated(ILogger logger, string keyId, string name, string scopes, string actor);

    [LoggerMessage(2004, LogLevel.Information, "API key {KeyId} revoked by {Actor}")]
    public static partial void ApiKeyRevoked(ILogger logger, string keyId, string actor);

    [LoggerMessage(2005, LogLevel.Information, "Setting {Key} changed to version {Version} by {Actor}")]
    public static partial void SettingChanged(ILogger logger, string key, long version, string actor);

    [LoggerMessage(2006, LogLevel.Information, "The first admin key is in {Path}")]
    public static partial void InitialAdminKeyExists(ILogger logger, string path);
}
