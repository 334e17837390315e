using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

using static AgentSentinel.Testing.ChatText;

namespace AgentSentinel.Bot.Tests;

/// <summary>Teams on a step-up route (<c>RequireRecentSignInMinutes</c>): a card action by an approver is refused with a
/// link to decide in the console, nothing changes, and the card still shows the approver the request's details.</summary>
public sealed class TeamsStepUpTests : IAsyncLifetime
{
    private const string Channel = "19:stepup0123@thread.tacv2";
    private const string PublicBaseUrl = "https://approvals.example.com";
    private ChatHarness _h = null!;

    public async ValueTask InitializeAsync()
    {
        _h = await ChatHarness.StartAsync(new ChatSetup(StorageProvider.Sqlite, "teamsstepup")
        {
            Teams = true,
            TeamsMembers = { ["29:alice"] = ("Alice", "aad-alice-0001", "alice@example.com") },
            Settings =
            {
                ["AgentSentinel:PublicBaseUrl"] = PublicBaseUrl,
                ["AgentSentinel:Routing:Routes:0:Name"] = "payments",
                ["AgentSentinel:Routing:Routes:0:Teams:Channel"] = Channel,
                ["AgentSentinel:Routing:Routes:0:RequireRecentSignInMinutes"] = "10",
            },
        });
        await _h.ApproverAsync("alice", "alice@example.com");
        await _h.InstallBotAsync(Channel, "29:alice", "aad-alice-0001");
    }

    public async ValueTask DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task A_card_action_on_a_step_up_route_is_refused_with_a_link_to_the_console()
    {
        var id = await _h.CreateAsync(new { action_name = "transfer_funds", action_inputs = new { to = "ACC-9" } });
        await _h.TeamsCardAsync(id);

        var card = await _h.CardAnswerAsync(_h.Bot.Invoke(Channel, "29:alice", "approve", id, "Fine", $"{Channel};messageid=1"));
        var notice = Plain((string)CardElement(card, "notice")!["text"]!);
        Assert.Contains("needs a recent sign-in through your company's identity provider (within 10 minutes)", notice, StringComparison.Ordinal);
        Assert.Contains($"{PublicBaseUrl}/approvals/{id}", notice, StringComparison.Ordinal);
        Assert.Null(card["actions"]);
        // The approver still sees what the request is about; only the decision moves to the console.
        Assert.Contains("ACC-9", Plain((string)CardElement(card, "inputs")!["text"]!), StringComparison.Ordinal);
        Assert.Equal("pending", await _h.StatusAsync(id));
    }
}
