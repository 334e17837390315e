using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Digest;
using AgentSentinel.Core.Jobs;
using AgentSentinel.Core.Notifications;
using AgentSentinel.Core.Policy;
using AgentSentinel.Core.Routing;
using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core;

public static class CoreServiceCollectionExtensions
{
    /// <summary>Options (validated at start-up), the store for the configured provider, the lifecycle and its jobs.</summary>
    public static IServiceCollection AddAgentSentinelCore(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AgentSentinelOptions>()
            .Bind(configuration.GetSection(AgentSentinelOptions.SectionName))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<AgentSentinelOptions>, AgentSentinelOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);

        services.AddSingleton(sp => Database.Create(sp.GetRequiredService<IOptions<AgentSentinelOptions>>().Value.Storage));
        services.AddSingleton(sp => sp.GetRequiredService<Database>() as PostgresDatabase
            ?? throw new InvalidOperationException("The storage provider is not PostgreSQL."));
        services.AddSingleton<IApprovalStore, ApprovalStore>();
        services.AddSingleton<ConfigVersion>();
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<IApiKeyStore, CachedApiKeyStore>();
        services.AddSingleton<IGrantStore, GrantStore>();
        services.AddSingleton<IConsolePeopleStore, ConsolePeopleStore>();
        services.AddSingleton<IOutboxStore, OutboxStore>();
        services.AddSingleton<VoteStore>();
        services.AddSingleton<Auth.IApproverDirectory, Auth.ApproverDirectory>();
        services.AddSingleton<IDelegationStore, DelegationStore>();
        services.AddSingleton<Delegation.DelegationService>();
        services.AddSingleton<ReassignmentStore>();
        services.AddSingleton<ReassignmentService>();
        services.AddSingleton<SettingsStore>();
        services.AddSingleton<ISettingsStore, CachedSettingsStore>();
        services.AddSingleton<ServerInstance>();
        services.AddSingleton<IChatMessageStore, ChatMessageStore>();
        services.AddSingleton<IChatConversationStore, ChatConversationStore>();
        services.AddSingleton<MigrationRunner>();
        services.AddSingleton<RuntimeSettings>();
        services.AddSingleton<ApprovalChangeHub>();
        services.AddSingleton<Receipts.IReceiptKeyStore, ReceiptKeyStore>();
        services.AddSingleton<Receipts.ReceiptKeyring>();
        services.AddSingleton<Receipts.ReceiptIssuer>();
        services.AddSingleton<ApprovalService>();
        services.AddSingleton<Telemetry.OperationalReadings>();
        services.AddSingleton<Telemetry.ProductMetrics>();
        services.AddSingleton<Audit.AuditStore>();
        services.AddSingleton<Audit.RetentionService>();
        services.AddTransient<Audit.AuditJobs>();
        services.AddOptions<Audit.RetentionOptions>().Bind(configuration.GetSection(Audit.RetentionOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<Audit.RetentionOptions>, Audit.RetentionOptionsValidator>();
        services.AddSingleton<OutboxSignal>();
        services.AddSingleton<OutboxDispatcher>();
        services.AddSingleton<IApprovalObserver, DeadlineScheduling>();
        services.AddSingleton<Grants.GrantService>();
        services.AddSingleton<DeadlineClock>();
        services.AddSingleton<IExpiryScheduler>(sp => sp.GetRequiredService<DeadlineClock>());
        services.AddSingleton<IFollowUpScheduler, HangfireFollowUpScheduler>();
        services.AddTransient<DeadlineJobs>();
        services.AddTransient<FollowUpJobs>();
        services.AddTransient<ExpiryJobs>();
        services.AddTransient<ExpiryRecovery>();

        services.AddOptions<DigestOptions>().Bind(configuration.GetSection(DigestOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DigestOptions>, DigestOptionsValidator>();
        services.AddSingleton<DigestStore>();
        services.AddSingleton<ApprovalStatsStore>();
        services.AddSingleton<ITrendStore>(sp => sp.GetRequiredService<ApprovalStatsStore>());
        services.AddTransient<StatsJobs>();
        services.AddSingleton<PolicyHistoryStore>();
        services.AddSingleton<PolicySimulator>();
        services.AddSingleton<SuggestionStore>();
        services.AddSingleton<Stats.SuggestionService>();
        services.AddSingleton<ApprovalWaiter>();
        services.AddSingleton<DigestService>();
        return services;
    }

    /// <summary>Keeps this server instance's heartbeat (the liveness record that lets other instances take over its chat
    /// claims once it is gone); register it after the start-up work that migrates the database, before the dispatcher
    /// and the job server, so it beats before they claim anything and stops after them.</summary>
    public static IServiceCollection AddInstanceHeartbeat(this IServiceCollection services) =>
        services.AddHostedService<InstanceHeartbeat>();

    /// <summary>Carries out the effects recorded in the outbox; register it after the start-up work that migrates the database.</summary>
    public static IServiceCollection AddOutboxDispatcher(this IServiceCollection services) =>
        services.AddHostedService(sp => sp.GetRequiredService<OutboxDispatcher>());

    /// <summary>On PostgreSQL, listens for changes made by other instances so their waiters wake here too.</summary>
    public static IServiceCollection AddPostgresChangeListener(this IServiceCollection services)
    {
        services.AddSingleton<PostgresChangeListener>();
        services.AddHostedService(sp => sp.GetRequiredService<PostgresChangeListener>());
        return services;
    }
}

/// <summary>Refuses to start on a wrong setting, with a sentence that names it.</summary>
public sealed class AgentSentinelOptionsValidator : IValidateOptions<AgentSentinelOptions>
{
    public ValidateOptionsResult Validate(string? name, AgentSentinelOptions options)
    {
        var errors = new List<string>();
        const string root = AgentSentinelOptions.SectionName;
        if (!Enum.IsDefined(options.Storage.Provider))
        {
            errors.Add($"{root}:Storage:Provider must be Sqlite or Postgres.");
        }
        if (options.Storage.Provider == StorageProvider.Postgres)
        {
            if (string.IsNullOrWhiteSpace(options.Storage.ConnectionString))
            {
                errors.Add($"{root}:Storage:ConnectionString is required when {root}:Storage:Provider is Postgres.");
            }
            else
            {
                try
                {
                    _ = new Npgsql.NpgsqlConnectionStringBuilder(options.Storage.ConnectionString);
                }
                catch (ArgumentException ex)
                {
                    errors.Add($"{root}:Storage:ConnectionString is not a valid PostgreSQL connection string: {ex.Message}");
                }
            }
        }
        if (options.Auth.BootstrapAdminKey is { Length: > 0 } key && key.Length < 20)
        {
            errors.Add($"{root}:Auth:BootstrapAdminKey must be at least 20 characters long (use a random value).");
        }
        if (options.Auth.SignedInPersonDays is < 0 or > 365)
        {
            errors.Add($"{root}:Auth:SignedInPersonDays must be from 0 to 365, got {options.Auth.SignedInPersonDays}.");
        }
        if (options.PublicBaseUrl is { Length: > 0 } url
            && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
        {
            errors.Add($"{root}:PublicBaseUrl must be an absolute http(s) URL, got '{url}'.");
        }
        if (options.Api.MaxRequestBodyBytes is < 1024 or > 16 * 1024 * 1024)
        {
            errors.Add($"{root}:Api:MaxRequestBodyBytes must be between 1024 and 16777216.");
        }
        if (options.Api.MaxWaitSeconds is < 1 or > 60 || options.Api.DefaultWaitSeconds < 1 || options.Api.DefaultWaitSeconds > options.Api.MaxWaitSeconds)
        {
            errors.Add($"{root}:Api:MaxWaitSeconds must be 1..60 and DefaultWaitSeconds 1..MaxWaitSeconds.");
        }
        if (options.Jobs.OutboxSweepInterval <= TimeSpan.Zero || options.Jobs.OutboxSweepInterval > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{root}:Jobs:OutboxSweepInterval must be between 00:00:00.001 and 00:10:00.");
        }
        if (options.Jobs.OutboxParallelism is < 1 or > 64)
        {
            errors.Add($"{root}:Jobs:OutboxParallelism must be between 1 and 64.");
        }
        if (options.Jobs.SchedulePollingInterval <= TimeSpan.Zero || options.Jobs.SchedulePollingInterval > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{root}:Jobs:SchedulePollingInterval must be between 00:00:00.001 and 00:01:00.");
        }
        if (options.Receipts.SigningKey is { Length: > 0 } pem && Receipts.ReceiptOptions.Problem(pem) is { } keyProblem)
        {
            errors.Add($"{root}:Receipts:SigningKey cannot sign receipts: {keyProblem}");
        }
        errors.AddRange(PolicyEvaluator.Validate(options.Policy).Select(e => $"{root}:Policy: {e}"));
        errors.AddRange(RouteTable.Validate(options.Routing.Routes).Select(e => $"{root}:Routing: {e}"));
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
