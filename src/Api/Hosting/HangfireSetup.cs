using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Storage;
using Hangfire;
using Hangfire.AspNetCore;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Hosting;

/// <summary>Hangfire on PostgreSQL (its own schema) in production, in memory on the embedded default.</summary>
public static class HangfireSetup
{
    public const string Schema = "hangfire";

    public static IServiceCollection AddAgentSentinelJobs(this IServiceCollection services)
    {
        AddStorage(services);
        AddClient(services);
        services.AddHangfireServer((sp, server) =>
        {
            var jobs = sp.GetRequiredService<IOptions<AgentSentinelOptions>>().Value.Jobs;
            server.SchedulePollingInterval = jobs.SchedulePollingInterval;
            server.WorkerCount = jobs.WorkerCount;
            server.ServerName = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..6]}";
            // Jobs are activated from this host's container, not from Hangfire's process-wide default.
            server.Activator = new AspNetCoreJobActivator(sp.GetRequiredService<IServiceScopeFactory>());
        });
        return services;
    }

    private static void AddStorage(IServiceCollection services) =>
        // Registered before AddHangfire so each host uses its own storage (Hangfire's default reads a static).
        services.AddSingleton<JobStorage>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<AgentSentinelOptions>>().Value;
            return options.Storage.Provider == StorageProvider.Postgres
                ? new PostgreSqlStorage(
                    new NpgsqlConnectionFactory(sp.GetRequiredService<PostgresDatabase>().ConnectionString, new PostgreSqlStorageOptions()),
                    new PostgreSqlStorageOptions
                    {
                        SchemaName = Schema,
                        PrepareSchemaIfNecessary = true,
                        QueuePollInterval = TimeSpan.FromSeconds(1),
                        DistributedLockTimeout = TimeSpan.FromMinutes(1),
                    })
                : new InMemoryStorage(new InMemoryStorageOptions());
        });

    /// <summary>Enqueues and schedules jobs, but runs none: for API-only instances (and tests that run jobs by hand).</summary>
    public static IServiceCollection AddAgentSentinelJobClientOnly(this IServiceCollection services)
    {
        AddStorage(services);
        AddClient(services);
        return services;
    }

    private static void AddClient(IServiceCollection services) =>
        services.AddHangfire((sp, config) => config
            .UseLogProvider(new HangfireLogProvider(sp.GetRequiredService<ILoggerFactory>()))
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings());

    public static bool IsPersistent(JobStorage storage) => storage is not InMemoryStorage;
}
