using AgentSentinel.Core.Policy;
using AgentSentinel.Core.Routing;

namespace AgentSentinel.Core.Configuration;

/// <summary>The <c>AgentSentinel</c> configuration section.</summary>
public sealed class AgentSentinelOptions
{
    public const string SectionName = "AgentSentinel";

    public StorageOptions Storage { get; set; } = new();
    public AuthOptions Auth { get; set; } = new();
    public JobsOptions Jobs { get; set; } = new();
    public ApiOptions Api { get; set; } = new();
    public PolicyOptions Policy { get; set; } = new();
    public RoutingOptions Routing { get; set; } = new();
    public Receipts.ReceiptOptions Receipts { get; set; } = new();

    /// <summary>The address people use to reach this server; links in chat messages point here.</summary>
    public string? PublicBaseUrl { get; set; }
}

public enum StorageProvider
{
    Sqlite,
    Postgres,
}

public sealed class StorageOptions
{
    public StorageProvider Provider { get; set; } = StorageProvider.Sqlite;

    /// <summary>For SQLite defaults to a file in the working folder.</summary>
    public string? ConnectionString { get; set; }

    public const string DefaultSqliteConnectionString = "Data Source=agentsentinel.db";
}

public sealed class AuthOptions
{
    /// <summary>An admin key accepted without being stored, so automation can start from nothing.</summary>
    public string? BootstrapAdminKey { get; set; }

    /// <summary>The email recorded for actions taken with the bootstrap key.</summary>
    public string BootstrapAdminEmail { get; set; } = "admin@localhost";

    /// <summary>
    /// Where the first admin key is written when the server starts with no key at all and no bootstrap key.
    /// Relative paths are taken from the working folder.
    /// </summary>
    public string InitialAdminKeyFile { get; set; } = "agentsentinel-admin.key";

    /// <summary>For how many days after their latest console sign-in through the identity provider a person counts
    /// as an approver identity in Slack and Teams (matched by verified email). 0: never; they decide in the console only.</summary>
    public int SignedInPersonDays { get; set; } = 30;
}

public sealed class JobsOptions
{
    /// <summary>How often scheduled jobs are looked for; deadlines are enforced in SQL whatever this is.</summary>
    public TimeSpan SchedulePollingInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Run the job server in this process (turn off for API-only instances).</summary>
    public bool RunServer { get; set; } = true;

    /// <summary>Hangfire worker threads. The jobs wait on the network (chat platforms, callbacks) and on the per-channel
    /// pacing far more than they compute, and the deadline job holds one worker while it waits for a near deadline, so
    /// there are many more workers than cores.</summary>
    public int WorkerCount { get; set; } = Math.Max(20, Environment.ProcessorCount * 5);

    /// <summary>How often the outbox dispatcher looks for effects to carry out when nothing woke it (the safety net for
    /// a lost wake-up, a failed attempt, or a process that stopped between a commit and its dispatch).</summary>
    public TimeSpan OutboxSweepInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How many requests' effects the outbox dispatcher hands to jobs at once; the effects of one request are
    /// always handled one after another, in the order they were committed.</summary>
    public int OutboxParallelism { get; set; } = 16;

    /// <summary>The outbox dispatcher carries out a chat post, redraw or thread reply itself when the channel has a free
    /// turn now and the surface is not paused, and queues a delivery job only when the delivery must wait (pacing, a
    /// retry, a pause). Off: every chat delivery is a job.</summary>
    public bool ChatFromDispatcher { get; set; } = true;
}

public sealed class ApiOptions
{
    /// <summary>The largest request body accepted by the API, in bytes.</summary>
    public int MaxRequestBodyBytes { get; set; } = 256 * 1024;

    /// <summary>The longest a <c>wait</c> call may hold a request open.</summary>
    public int MaxWaitSeconds { get; set; } = 30;

    public int DefaultWaitSeconds { get; set; } = 25;
}
