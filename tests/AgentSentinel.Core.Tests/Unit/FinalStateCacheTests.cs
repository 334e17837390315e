using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Notifications;

namespace AgentSentinel.Core.Tests.Unit;

public sealed class FinalStateCacheTests
{
    private static ApprovalRequest State(ApprovalStatus status, string? receipt = "receipt") => new()
    {
        Id = Guid.CreateVersion7(),
        ActionName = "transfer_funds",
        CreatedAt = DateTimeOffset.UnixEpoch,
        ExpiresAt = DateTimeOffset.UnixEpoch.AddMinutes(10),
        Status = status,
        Version = 2,
        Receipt = status.IsTerminal() ? receipt : null,
    };

    [Theory]
    [InlineData(ApprovalStatus.Approved)]
    [InlineData(ApprovalStatus.Rejected)]
    [InlineData(ApprovalStatus.Expired)]
    [InlineData(ApprovalStatus.Cancelled)]
    public void A_final_state_with_its_receipt_is_kept(ApprovalStatus status)
    {
        var cache = new FinalStateCache();
        var state = State(status);

        cache.Remember(state);

        Assert.True(cache.TryGet(state.Id, out var kept));
        Assert.Same(state, kept);
    }

    [Theory]
    [InlineData(ApprovalStatus.Pending)]
    [InlineData(ApprovalStatus.InfoRequested)]
    public void An_open_state_is_never_kept(ApprovalStatus status)
    {
        var cache = new FinalStateCache();
        var state = State(status);

        cache.Remember(state);
        cache.Remember(state, cache.Generation);

        Assert.False(cache.TryGet(state.Id, out _));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void A_final_state_without_its_receipt_is_not_kept()
    {
        var cache = new FinalStateCache();
        var state = State(ApprovalStatus.Approved, receipt: null);

        cache.Remember(state);

        Assert.False(cache.TryGet(state.Id, out _));
    }

    [Fact]
    public void A_forgotten_request_is_no_longer_answered()
    {
        var cache = new FinalStateCache();
        var state = State(ApprovalStatus.Approved);
        var other = State(ApprovalStatus.Rejected);
        cache.Remember(state);
        cache.Remember(other);

        cache.Forget([state.Id]);

        Assert.False(cache.TryGet(state.Id, out _));
        Assert.True(cache.TryGet(other.Id, out _));
    }

    [Fact]
    public void A_state_read_before_a_deletion_was_forgotten_is_not_kept()
    {
        var cache = new FinalStateCache();
        var state = State(ApprovalStatus.Approved);
        var generation = cache.Generation; // the read starts
        cache.Forget([state.Id]);          // retention deletes it meanwhile

        cache.Remember(state, generation); // the read returns the row as it was

        Assert.False(cache.TryGet(state.Id, out _));
        cache.Remember(state, cache.Generation);
        Assert.True(cache.TryGet(state.Id, out _));
    }

    [Fact]
    public void Clear_drops_everything_and_a_read_that_started_before_it_is_not_kept()
    {
        var cache = new FinalStateCache();
        var kept = State(ApprovalStatus.Approved);
        var read = State(ApprovalStatus.Expired);
        cache.Remember(kept);
        var generation = cache.Generation;

        cache.Clear();
        cache.Remember(read, generation);

        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Past_its_capacity_the_oldest_entries_go_first()
    {
        var cache = new FinalStateCache(capacity: 3);
        var states = Enumerable.Range(0, 5).Select(_ => State(ApprovalStatus.Approved)).ToList();

        foreach (var state in states)
        {
            cache.Remember(state);
        }

        Assert.Equal(3, cache.Count);
        Assert.False(cache.TryGet(states[0].Id, out _));
        Assert.False(cache.TryGet(states[1].Id, out _));
        Assert.All(states.Skip(2), s => Assert.True(cache.TryGet(s.Id, out _)));
    }

    [Fact]
    public void The_change_hub_keeps_the_final_states_transitions_publish_and_drops_them_when_told()
    {
        var hub = new ApprovalChangeHub();
        var approved = State(ApprovalStatus.Approved);
        var pending = State(ApprovalStatus.Pending);

        using (var change = hub.BeginChange(approved.Id))
        {
            change.Publish(approved);
        }
        hub.Publish(pending.Id, pending);
        Assert.True(hub.Finals.TryGet(approved.Id, out _));
        Assert.False(hub.Finals.TryGet(pending.Id, out _));

        hub.Deleted([approved.Id]);
        Assert.False(hub.Finals.TryGet(approved.Id, out _));

        hub.Publish(approved.Id, approved);
        Assert.True(hub.Finals.TryGet(approved.Id, out _));
        hub.PublishAll(); // notifications (deletions among them) may have been missed
        Assert.Equal(0, hub.Finals.Count);
    }
}
