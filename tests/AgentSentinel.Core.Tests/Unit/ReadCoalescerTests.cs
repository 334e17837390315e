using System.Collections.Concurrent;
using AgentSentinel.Core.Storage;

namespace AgentSentinel.Core.Tests.Unit;

/// <summary>Concurrent reads share a round trip, but a caller is only ever answered by a read that started after it
/// asked: reads run against a table whose values the tests change between a read's start and the next caller.</summary>
public sealed class ReadCoalescerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A table read the way the database is: each read takes the values as of its start, then waits for its
    /// gate (the round trip) before answering.</summary>
    private sealed class GatedTable
    {
        public ConcurrentDictionary<string, int> Values { get; } = new();

        public List<(string[] Keys, TaskCompletionSource Gate)> Reads { get; } = [];

        public ReadCoalescer<string, int> Coalescer() => new(async (keys, _) =>
        {
            var snapshot = keys.Where(Values.ContainsKey).ToDictionary(k => k, k => Values[k]);
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (Reads)
            {
                Reads.Add(([.. keys.Order(StringComparer.Ordinal)], gate));
            }
            await gate.Task;
            return snapshot;
        });

        public int Count
        {
            get
            {
                lock (Reads)
                {
                    return Reads.Count;
                }
            }
        }

        public void Release(int read)
        {
            lock (Reads)
            {
                Reads[read].Gate.SetResult();
            }
        }

        public async Task WaitForReadsAsync(int count)
        {
            while (Count < count)
            {
                await Task.Yield();
            }
        }
    }

    [Fact]
    public async Task A_caller_arriving_during_a_read_is_answered_by_the_next_read_with_what_changed_meanwhile()
    {
        var table = new GatedTable();
        table.Values["a"] = 1;
        var coalescer = table.Coalescer();

        var first = coalescer.ReadAsync("a", Ct);
        await table.WaitForReadsAsync(1);
        // A decision commits while the first read is in flight; then a poll asks.
        table.Values["a"] = 2;
        var second = coalescer.ReadAsync("a", Ct);
        var third = coalescer.ReadAsync("b", Ct);
        Assert.Equal(1, table.Count);

        table.Release(0);
        Assert.Equal(1, await first);
        await table.WaitForReadsAsync(2);
        Assert.False(second.IsCompleted);
        table.Release(1);

        Assert.Equal(2, await second);
        Assert.Equal(0, await third);
        Assert.Equal(["a", "b"], table.Reads[1].Keys);
        Assert.Equal(2, table.Count);
    }

    [Fact]
    public async Task Callers_waiting_together_share_one_read_and_each_gets_its_own_value()
    {
        var table = new GatedTable();
        for (var i = 0; i < 10; i++)
        {
            table.Values[$"k{i}"] = i;
        }
        var coalescer = table.Coalescer();
        var blocker = coalescer.ReadAsync("k0", Ct);
        await table.WaitForReadsAsync(1);
        var waiting = Enumerable.Range(0, 10).Select(i => coalescer.ReadAsync($"k{i}", Ct)).ToList();

        table.Release(0);
        await table.WaitForReadsAsync(2);
        table.Release(1);

        Assert.Equal(Enumerable.Range(0, 10), await Task.WhenAll(waiting));
        Assert.Equal(0, await blocker);
        Assert.Equal(10, table.Reads[1].Keys.Length);
        Assert.Equal(2, table.Count);
    }

    [Fact]
    public async Task A_failed_read_fails_its_callers_only_and_the_next_read_still_runs()
    {
        var calls = 0;
        var coalescer = new ReadCoalescer<string, int>((keys, _) =>
            Interlocked.Increment(ref calls) == 1
                ? throw new InvalidOperationException("database down")
                : Task.FromResult<IReadOnlyDictionary<string, int>>(keys.ToDictionary(k => k, _ => 7)));

        await Assert.ThrowsAsync<InvalidOperationException>(() => coalescer.ReadAsync("a", Ct));
        Assert.Equal(7, await coalescer.ReadAsync("a", Ct));
    }

    [Fact]
    public async Task A_caller_that_gives_up_stops_waiting_and_the_others_are_still_answered()
    {
        var table = new GatedTable();
        table.Values["a"] = 5;
        var coalescer = table.Coalescer();
        using var cancel = new CancellationTokenSource();
        var impatient = coalescer.ReadAsync("a", cancel.Token);
        var patient = coalescer.ReadAsync("a", Ct);
        await table.WaitForReadsAsync(1);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => impatient);
        table.Release(0);
        await table.WaitForReadsAsync(2);
        table.Release(1);
        Assert.Equal(5, await patient);
    }
}
