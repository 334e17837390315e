using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Jobs;
using AgentSentinel.Core.Storage;
using Hangfire;
using Hangfire.AspNetCore;
using Hangfire.Common;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Microsoft.Extensions.Options;
using Npgsql;

namespace AgentSentinel.Api.Hosting;

/// <summary>Hangfire on PostgreSQL (its own schema) in production, in memory on the embedded default.</summary>
public static class HangfireSetup
{
    public const string Schema = "hangfire";

    /// <summary>How long a job fetched by a server that stopped without finishing it stays invisible to the others.</summary>
    public static readonly TimeSpan JobInvisibilityTimeout = TimeSpan.FromSeconds(30);

    public static IServiceCollection AddAgentSentinelJobs(this IServiceCollection services)
    {
        AddStorage(services);
        AddClient(services);
        services.AddHangfireServer((sp, server) =>
        {
            var jobs = sp.GetRequiredService<IOptions<AgentSentinelOptions>>().Value.Jobs;
            server.SchedulePollingInterval = jobs.SchedulePollingInterval;
            server.WorkerCount = jobs.WorkerCount;
            server.Queues = JobQueues.All;
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
            if (options.Storage.Provider != StorageProvider.Postgres)
            {
                return new InMemoryStorage(new InMemoryStorageOptions());
            }
            var connectionString = sp.GetRequiredService<PostgresDatabase>().ConnectionString;
            InstallSchema(connectionString);
            var storageOptions = new PostgreSqlStorageOptions
            {
                SchemaName = Schema,
                PrepareSchemaIfNecessary = false,
                QueuePollInterval = TimeSpan.FromSeconds(1),
                // Workers wake on LISTEN/NOTIFY when a job is enqueued, so chat messages go out at once.
                EnableLongPolling = true,
                DistributedLockTimeout = TimeSpan.FromMinutes(1),
                // A worker keeps its job invisible to others while it runs (a keep-alive every fifth of the timeout, 6 s),
                // so the job of a process that was killed is run again by the next server after 30 s, not Hangfire's 30
                // minutes. Every job here is idempotent (claims, conditional transitions), so a job run again is harmless.
                UseSlidingInvisibilityTimeout = true,
                InvisibilityTimeout = JobInvisibilityTimeout,
            };
            return new PostgreSqlStorage(new NpgsqlConnectionFactory(connectionString, storageOptions), storageOptions);
        });

    /// <summary>Installs or upgrades Hangfire's schema under an advisory lock, so instances starting together on a
    /// fresh database do not race to create it.</summary>
    private static void InstallSchema(string connectionString)
    {
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        using (var take = new NpgsqlCommand("SELECT pg_advisory_lock(7413290452)", connection))
        {
            take.ExecuteNonQuery();
        }
        try
        {
            PostgreSqlObjectsInstaller.Install(connection, Schema);
        }
        finally
        {
            using var release = new NpgsqlCommand("SELECT pg_advisory_unlock(7413290452)", connection);
            release.ExecuteNonQuery();
        }
    }

    /// <summary>Enqueues and schedules jobs, but runs none: for API-only instances (and tests that run jobs by hand).</summary>
    public static IServiceCollection AddAgentSentinelJobClientOnly(this IServiceCollection services)
    {
        AddStorage(services);
        AddClient(services);
        return services;
    }

    private static void AddClient(IServiceCollection services)
    {
        // Registered before AddHangfire, which keeps it: the client and the server use the global providers (attribute
        // filters such as AutomaticRetry) plus this host's own filters, without touching Hangfire's static global list.
        services.AddSingleton<IJobFilterProvider>(_ => new JobFilterProviderCollection(JobFilterProviders.Providers, new JobFilterCollection { new JobTraceFilter() }));
        services.AddHangfire((sp, config) => config
            .UseLogProvider(new HangfireLogProvider(sp.GetRequiredService<ILoggerFactory>()))
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings());
    }
}
