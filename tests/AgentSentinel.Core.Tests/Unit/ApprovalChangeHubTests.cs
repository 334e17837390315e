using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Notifications;

namespace AgentSentinel.Core.Tests.Unit;

public sealed class ApprovalChangeHubTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    private static Task Within(Task task) => task.WaitAsync(Patience, TestContext.Current.CancellationToken);

    [Fact]
    public async Task Publish_completes_a_subscribers_task()
    {
        var hub = new ApprovalChangeHub();
        var id = Guid.CreateVersion7();
        using var subscription = hub.Subscribe(id);
        Assert.False(subscription.Changed.IsCompleted);
        Assert.Equal(1, hub.WatchedCount);

        hub.Publish(id);

        await Within(subscription.Changed);
        Assert.True(subscription.Changed.IsCompletedSuccessfully);
        Assert.Equal(0, hub.WatchedCount);
    }

    [Fact]
    public async Task A_second_subscriber_to_the_same_id_is_also_woken()
    {
        var hub = new ApprovalChangeHub();
        var id = Guid.CreateVersion7();
        using var first = hub.Subscribe(id);
        using var second = hub.Subscribe(id);
        Assert.Equal(1, hub.WatchedCount);

        hub.Publish(id);

        await Within(first.Changed);
        await Within(second.Changed);
        Assert.Equal(0, hub.WatchedCount);
    }

    [Fact]
    public void Publish_wakes_only_the_watchers_of_that_id()
    {
        var hub = new ApprovalChangeHub();
        var id = Guid.CreateVersion7();
        var other = Guid.CreateVersion7();
        using var mine = hub.Subscribe(id);
        using var theirs = hub.Subscribe(other);

        hub.Publish(id);

        Assert.True(mine.Changed.IsCompleted);
        Assert.False(theirs.Changed.IsCompleted);
        Assert.Equal(1, hub.WatchedCount);
    }

    [Fact]
    public void A_subscription_disposed_before_publish_leaves_no_entry()
    {
        var hub = new ApprovalChangeHub();
        var id = Guid.CreateVersion7();
        var subscription = hub.Subscribe(id);
        Assert.Equal(1, hub.WatchedCount);

        subscription.Dispose();

        Assert.Equal(0, hub.WatchedCount);
        Assert.False(subscription.Changed.IsCompleted);
        hub.Publish(id);
        Assert.Equal(0, hub.WatchedCount);
    }

    [Fact]
    public void The_entry_stays_while_one_of_two_subscribers_still_watches()
    {
        var hub = new ApprovalChangeHub();
        var id = Guid.CreateVersion7();
        var leaving = hub.Subscribe(id);
        using var staying = hub.Subscribe(id);

        leaving.Dispose();
        Assert.Equal(1, hub.WatchedCount);

        hub.Publish(id);
        Assert.True(staying.Changed.IsCompleted);
        Assert.Equal(0, hub.WatchedCount);
    }

    [Fact]
    public void Disposing_a_subscription_twice_releases_it_once()
    {
        var hub = new ApprovalChangeHub();
        var id = Guid.CreateVersion7();
        var twice = hub.Subscribe(id);
        using var other = hub.Subscribe(id);

        twice.Dispose();
        twice.Dispose();

        Assert.Equal(1, hub.WatchedCount);
        hub.Publish(id);
        Assert.True(other.Changed.IsCompleted);
    }

    [Fact]
    public void A_subscription_after_a_publish_waits_for_the_next_change()
    {
        var hub = new ApprovalChangeHub();
        var id = Guid.CreateVersion7();
        using var before = hub.Subscribe(id);
        hub.Publish(id);

        using var after = hub.Subscribe(id);

        Assert.True(before.Changed.IsCompleted);
        Assert.False(after.Changed.IsCompleted);
        Assert.Equal(1, hub.WatchedCount);
    }

    [Fact]
    public void Disposing_an_old_subscription_does_not_remove_a_newer_watch_on_the_same_id()
    {
        var hub = new ApprovalChangeHub();
        var id = Guid.CreateVersion7();
        var old = hub.Subscribe(id);
        hub.Publish(id);
        using var newer = hub.Subscribe(id);

        old.Dispose();

        Assert.Equal(1, hub.WatchedCount);
        hub.Publish(id);
        Assert.True(newer.Changed.IsCompleted);
    }

    [Fact]
    public async Task Publish_all_wakes_everyone()
    {
        var hub = new ApprovalChangeHub();
        var ids = Enumerable.Range(0, 5).Select(_ => Guid.CreateVersion7()).ToList();
        var subscriptions = ids.Select(hub.Subscribe).Append(hub.Subscribe(ids[0])).ToList();
        Assert.Equal(5, hub.WatchedCount);

        hub.PublishAll();

        await Within(Task.WhenAll(subscriptions.Select(s => s.Changed)));
        Assert.Equal(0, hub.WatchedCount);
        subscriptions.ForEach(s => s.Dispose());
        Assert.Equal(0, hub.WatchedCount);
    }

    [Fact]
    public void Publish_all_with_nobody_watching_is_harmless()
    {
        var hub = new ApprovalChangeHub();

        hub.PublishAll();

        using var later = hub.Subscribe(Guid.CreateVersion7());
        Assert.False(later.Changed.IsCompleted);
        Assert.Equal(1, hub.WatchedCount);
    }

    [Fact]
    public void Publish_for_an_id_nobody_watches_is_harmless()
    {
        var hub = new ApprovalChangeHub();
        var id = Guid.CreateVersion7();
        using var watching = hub.Subscribe(id);

        hub.Publish(Guid.CreateVersion7());
        new ApprovalChangeHub().Publish(id);

        Assert.False(watching.Changed.IsCompleted);
        Assert.Equal(1, hub.WatchedCount);
        hub.Publish(id);
        Assert.True(watching.Changed.IsCompleted);
    }

    [Fact]
    public async Task Subscribers_are_not_run_inline_by_the_publisher()
    {
        var hub = new ApprovalChangeHub();
        var id = Guid.CreateVersion7();
        using var subscription = hub.Subscribe(id);
        using var gate = new ManualResetEventSlim();
        // A continuation that blocks until released: run inline, it would hold Publish until the gate times out.
        var continuation = subscription.Changed.ContinueWith(
            _ => gate.Wait(Patience),
            TestContext.Current.CancellationToken,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        hub.Publish(id);
        var finishedBeforePublishReturned = continuation.IsCompleted;
        gate.Set();

        await Within(continuation);
        Assert.False(finishedBeforePublishReturned);
    }

    [Fact]
    public async Task A_feed_gets_every_changed_id_once_in_order()
    {
        var hub = new ApprovalChangeHub();
        using var feed = hub.SubscribeAll();
        Assert.Equal(1, hub.FeedCount);
        var (a, b) = (Guid.CreateVersion7(), Guid.CreateVersion7());
        hub.Publish(a);
        hub.Publish(b);
        hub.Publish(a);

        var ids = await feed.ReadAsync(TestContext.Current.CancellationToken).WaitAsync(Patience, TestContext.Current.CancellationToken);

        Assert.Equal([a, b], ids);
    }

    [Fact]
    public async Task A_feed_is_told_that_anything_may_have_changed_after_publish_all_or_when_it_fell_behind()
    {
        var hub = new ApprovalChangeHub();
        using var feed = hub.SubscribeAll();
        hub.Publish(Guid.CreateVersion7());
        hub.PublishAll();
        Assert.Empty(await feed.ReadAsync(TestContext.Current.CancellationToken).WaitAsync(Patience, TestContext.Current.CancellationToken));

        for (var i = 0; i < ApprovalChangeHub.FeedCapacity + 5; i++)
        {
            hub.Publish(Guid.CreateVersion7());
        }
        Assert.Empty(await feed.ReadAsync(TestContext.Current.CancellationToken).WaitAsync(Patience, TestContext.Current.CancellationToken));

        var next = Guid.CreateVersion7();
        hub.Publish(next);
        Assert.Equal([next], await feed.ReadAsync(TestContext.Current.CancellationToken).WaitAsync(Patience, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_disposed_feed_stops_receiving_and_a_read_can_be_cancelled()
    {
        var hub = new ApprovalChangeHub();
        var feed = hub.SubscribeAll();
        using var cancel = new CancellationTokenSource();
        var read = feed.ReadAsync(cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);
        feed.Dispose();
        Assert.Equal(0, hub.FeedCount);
        hub.Publish(Guid.CreateVersion7());
        Assert.False(feed.Reader.TryRead(out _));
    }

    private static ApprovalRequest Decided(Guid id) => new()
    {
        Id = id,
        ActionName = "transfer_funds",
        CreatedAt = DateTimeOffset.UnixEpoch,
        ExpiresAt = DateTimeOffset.UnixEpoch.AddMinutes(10),
        Status = ApprovalStatus.Approved,
        Version = 2,
    };

    [Fact]
    public async Task A_database_notification_for_a_request_changing_here_waits_for_the_state_the_change_committed()
    {
        var hub = new ApprovalChangeHub();
        var id = Guid.CreateVersion7();
        using var subscription = hub.Subscribe(id);
        var change = hub.BeginChange(id);

        hub.PublishNotified(id);
        Assert.False(subscription.Changed.IsCompleted);

        var state = Decided(id);
        change.Publish(state);
        await Within(subscription.Changed);
        Assert.Same(state, subscription.State);
        change.Dispose();

        // The change is over: the next notification wakes at once, without a state.
        using var next = hub.Subscribe(id);
        hub.PublishNotified(id);
        await Within(next.Changed);
        Assert.Null(next.State);
    }

    [Fact]
    public async Task A_notification_held_during_a_change_that_did_not_commit_is_published_when_the_change_ends()
    {
        var hub = new ApprovalChangeHub();
        var id = Guid.CreateVersion7();
        var other = Guid.CreateVersion7();
        using var subscription = hub.Subscribe(id);
        using var bystander = hub.Subscribe(other);
        var outer = hub.BeginChange(id);
        var inner = hub.BeginChange(id);

        // Another instance's change of the same request, and one of another request (not held).
        hub.PublishNotified(id);
        hub.PublishNotified(other);
        await Within(bystander.Changed);
        Assert.False(subscription.Changed.IsCompleted);

        inner.Dispose();
        await Within(subscription.Changed);
        Assert.Null(subscription.State);

        // A change that ends with nothing committed and nothing notified wakes no one.
        using var later = hub.Subscribe(id);
        outer.Dispose();
        Assert.False(later.Changed.IsCompleted);
        Assert.Equal(1, hub.WatchedCount);
    }
}
