using AgentSentinel.Api.Hosting;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Npgsql;

namespace AgentSentinel.Api.Tests;

/// <summary>A server killed (SIGKILL) while its job server held a recurring job's lock leaves the lock behind in the
/// PostgreSQL job storage, where it stays until it times out (1 minute). The restarted server must start anyway.</summary>
public sealed class StaleJobLockTests
{
    private static CancellationToken Ct => Http.Ct;

    private static async Task ExecuteAsync(TestStorage storage, string sql)
    {
        await using var connection = new NpgsqlConnection(storage.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(Ct);
    }

    [Fact]
    public async Task A_recurring_jobs_lock_left_by_a_killed_server_does_not_stop_the_restart_and_the_job_is_registered_once_it_is_freed()
    {
        var storage = await TestStorage.CreateAsync(StorageProvider.Postgres, "stalelock");
        await using (var first = new AgentSentinelApp(storage))
        {
            _ = first.Server; // installs the job storage and registers the recurring jobs
        }
        // The lock row of the expiry sweep, as a process killed while holding it leaves it.
        await ExecuteAsync(storage, """
            INSERT INTO hangfire.lock (resource, updatecount, acquired)
            VALUES ('lock:recurring-job:expiry-sweep', 0, now() AT TIME ZONE 'UTC'), ('hangfire:lock:recurring-job:expiry-sweep', 0, now() AT TIME ZONE 'UTC')
            """);

        await using var second = new AgentSentinelApp(storage);
        _ = second.Server; // threw (the host failed to start) before the fix
        using var admin = second.Client();
        Assert.Equal(System.Net.HttpStatusCode.OK, (await admin.GetAsync("/health/ready", Ct)).StatusCode);
        Assert.Equal(1, second.Service<PendingRecurringJobs>().Count);

        // The lock times out (here: it is removed); the start-up recovery then registers the job.
        await ExecuteAsync(storage, "DELETE FROM hangfire.lock WHERE resource LIKE '%recurring-job:expiry-sweep'");
        await second.Service<StartupRecovery>().Completed.WaitAsync(TimeSpan.FromMinutes(2), Ct);
        Assert.Equal(0, second.Service<PendingRecurringJobs>().Count);
    }
}
