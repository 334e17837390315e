using AgentSentinel.Core.Approvals;

namespace AgentSentinel.Core.Notifications;

/// <summary>
/// The long poll behind the agent's wait (REST and MCP): a request as soon as it is not pending or changes, or at its
/// deadline, or at the caller's limit. Watching starts before the caller reads and authorizes the request, so a change
/// between that read and the wait is not missed; the change hub wakes the wait, here or (through LISTEN/NOTIFY) from
/// another instance, and the request is read again from the store, unless the change was made in this process and
/// handed over the state it committed.
/// </summary>
public sealed class ApprovalWaiter(ApprovalService service, ApprovalChangeHub hub, TimeProvider time)
{
    private readonly ApprovalService _service = service;
    private readonly ApprovalChangeHub _hub = hub;
    private readonly TimeProvider _time = time;

    public Watch Start(Guid id) => new(this, id);

    public sealed class Watch : IDisposable
    {
        private readonly ApprovalWaiter _waiter;
        private readonly Guid _id;
        private ApprovalChangeHub.Subscription _subscription;

        internal Watch(ApprovalWaiter waiter, Guid id)
        {
            _waiter = waiter;
            _id = id;
            _subscription = waiter._hub.Subscribe(id);
        }

        /// <summary>Waits from <paramref name="request"/> (read after <see cref="Start"/>) until the request leaves
        /// <c>pending</c> or changes, its deadline passes, or <paramref name="until"/>; answers its state then.</summary>
        public async Task<ApprovalRequest> UntilChangedAsync(ApprovalRequest request, DateTimeOffset until, CancellationToken ct)
        {
            var startVersion = request.Version;
            var startStatus = request.Status;
            while (request.Status == ApprovalStatus.Pending)
            {
                var now = _waiter._time.GetUtcNow();
                var wakeAt = until < request.ExpiresAt ? until : request.ExpiresAt;
                if (wakeAt <= now)
                {
                    break;
                }
                using var delayCancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var delay = Task.Delay(wakeAt - now, _waiter._time, delayCancel.Token);
                var woke = await Task.WhenAny(_subscription.Changed, delay);
                await delayCancel.CancelAsync();
                ApprovalRequest? committed = null;
                if (woke == _subscription.Changed)
                {
                    committed = _subscription.State;
                    // Watch again before re-reading, so a change right after the read is not missed.
                    _subscription.Dispose();
                    _subscription = _waiter._hub.Subscribe(_id);
                }
                else
                {
                    ct.ThrowIfCancellationRequested();
                }
                // A change made in this process hands over the state it committed (after the request was read here):
                // answered as it is, without reading it again, when that is what a read would report.
                request = committed is not null && committed.Version > request.Version && _waiter._service.ReadsAsIs(committed)
                    ? committed
                    : await _waiter._service.GetAsync(_id, ct) ?? request;
                if (request.Version != startVersion || request.Status != startStatus)
                {
                    break;
                }
            }
            return request;
        }

        public void Dispose() => _subscription.Dispose();
    }
}
