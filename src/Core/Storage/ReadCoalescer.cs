namespace AgentSentinel.Core.Storage;

/// <summary>
/// Serves concurrent reads of the same kind with one database round trip ("single flight"), without ever answering
/// from a read that started before the caller asked. A caller joins the next batch; a batch is read when no read of this
/// coalescer is in flight, so a caller who arrives while one is in flight waits for the next one (that read starts after
/// it arrived and sees everything committed before). One read in flight at a time: under load each round trip serves
/// every caller that arrived during the previous one; alone, a caller's read starts at once.
/// </summary>
public sealed class ReadCoalescer<TKey, TValue>(Func<IReadOnlyCollection<TKey>, CancellationToken, Task<IReadOnlyDictionary<TKey, TValue>>> read)
    where TKey : notnull
{
    private readonly Lock _lock = new();
    private Batch _next = new();
    private bool _inFlight;

    /// <summary>The value of <paramref name="key"/> from a read that started after this call (default when absent).</summary>
    public Task<TValue?> ReadAsync(TKey key, CancellationToken ct)
    {
        Batch batch;
        bool start;
        lock (_lock)
        {
            batch = _next;
            batch.Keys.Add(key);
            start = !_inFlight;
            if (start)
            {
                _inFlight = true;
                _next = new Batch();
            }
        }
        if (start)
        {
            _ = RunAsync(batch);
        }
        return ValueAsync(batch, key, ct);
    }

    private static async Task<TValue?> ValueAsync(Batch batch, TKey key, CancellationToken ct)
    {
        // A caller that gives up stops waiting; the read it joined still serves the others.
        var values = await batch.Done.Task.WaitAsync(ct);
        return values.TryGetValue(key, out var value) ? value : default;
    }

    /// <summary>Reads <paramref name="batch"/>, then the batch that gathered meanwhile, until none did.</summary>
    private async Task RunAsync(Batch batch)
    {
        while (true)
        {
            try
            {
                // Not the callers' tokens: the read serves all of them (the command timeout bounds it).
                batch.Done.TrySetResult(await read(batch.Keys, CancellationToken.None));
            }
            catch (Exception ex)
            {
                batch.Done.TrySetException(ex);
            }
            lock (_lock)
            {
                if (_next.Keys.Count == 0)
                {
                    _inFlight = false;
                    return;
                }
                batch = _next;
                _next = new Batch();
            }
        }
    }

    private sealed class Batch
    {
        public HashSet<TKey> Keys { get; } = [];

        public TaskCompletionSource<IReadOnlyDictionary<TKey, TValue>> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
