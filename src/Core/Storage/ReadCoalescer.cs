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

    /// <summary>Reads <paramref name="batch"/>, then the batch that gathered meanwhile, until none did. The next batch's
    /// read is sent before the callers of the one just read go on, and they go on here, one after another, up to their
    /// next wait: no thread is woken per caller (the profile of a poll under load showed those wake-ups, one per caller
    /// and read, as a large part of the server's CPU), and the database is not kept waiting for them.</summary>
    private async Task RunAsync(Batch batch)
    {
        var reading = ReadBatchAsync(batch);
        while (true)
        {
            IReadOnlyDictionary<TKey, TValue>? values = null;
            Exception? error = null;
            try
            {
                values = await reading;
            }
            catch (Exception ex)
            {
                error = ex;
            }
            Batch? next = null;
            lock (_lock)
            {
                if (_next.Keys.Count == 0)
                {
                    _inFlight = false;
                }
                else
                {
                    next = _next;
                    _next = new Batch();
                }
            }
            if (next is not null)
            {
                reading = ReadBatchAsync(next);
            }
            if (error is null)
            {
                batch.Done.TrySetResult(values!);
            }
            else
            {
                batch.Done.TrySetException(error);
            }
            if (next is null)
            {
                return;
            }
            batch = next;
        }
    }

    // Not the callers' tokens: the read serves all of them (the command timeout bounds it). A read that throws before
    // its first wait fails its batch like one that fails later.
    private async Task<IReadOnlyDictionary<TKey, TValue>> ReadBatchAsync(Batch batch) => await read(batch.Keys, CancellationToken.None);

    private sealed class Batch
    {
        public HashSet<TKey> Keys { get; } = [];

        // Callers go on on the thread that completes the read (see RunAsync).
        public TaskCompletionSource<IReadOnlyDictionary<TKey, TValue>> Done { get; } = new();
    }
}
