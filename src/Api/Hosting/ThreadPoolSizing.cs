using AgentSentinel.Core.Configuration;

namespace AgentSentinel.Api.Hosting;

/// <summary>
/// Hangfire's client is synchronous: every job the outbox dispatcher queues (and every retry or follow-up a job
/// schedules) blocks a thread-pool thread on the job storage's round trips. The pool starts with one thread per core
/// and adds about one every half second while its threads are blocked, so under sustained intake the dispatcher's lanes
/// starve the requests' continuations: intake stalls and chat posts fall behind by tens of seconds. The pool is given,
/// from the start, threads for each dispatcher lane and each job worker on top of a few per core for requests.
/// </summary>
public static class ThreadPoolSizing
{
    public static int MinimumWorkerThreads(JobsOptions jobs) =>
        jobs.OutboxParallelism + jobs.WorkerCount + 4 * Environment.ProcessorCount;

    /// <summary>Raises the pool's minimum (never lowers it: several hosts may share a process).</summary>
    public static void Apply(JobsOptions jobs)
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        var wanted = MinimumWorkerThreads(jobs);
        if (workers < wanted)
        {
            ThreadPool.SetMinThreads(wanted, io);
        }
    }
}
