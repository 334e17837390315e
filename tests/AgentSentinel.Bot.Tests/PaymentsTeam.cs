using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;

namespace AgentSentinel.Bot.Tests;

/// <summary>The people and route the chat delegation and reassignment tests share: Alice, Bob and Eve in Slack, Alice
/// and Bob in Teams, and a route "payments" posting to C0PAY and a Teams channel that names Alice only by her Slack and
/// Teams ids. Eve is a Slack member with no approver key.</summary>
internal static class PaymentsTeam
{
    public const string TeamsChannel = "19:payments0123@thread.tacv2";
    public const string AliceAad = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f";

    /// <summary>Both fakes with these people, and route 0; a test adds what else its route needs.</summary>
    public static ChatSetup Setup(StorageProvider provider, string database)
    {
        var setup = new ChatSetup(provider, database) { Slack = true, Teams = true };
        setup.SlackUsers["U0ALICE"] = ("Alice", "alice@example.com");
        setup.SlackUsers["U0BOB"] = ("Bob", "bob@example.com");
        setup.SlackUsers["U0EVE"] = ("Eve", "eve@example.com");
        setup.TeamsMembers["29:alice"] = ("Alice", AliceAad, "alice@example.com");
        setup.TeamsMembers["29:bob"] = ("Bob", "aad-bob-0002", "bob@example.com");
        setup.Settings["AgentSentinel:Routing:Routes:0:Name"] = "payments";
        setup.Settings["AgentSentinel:Routing:Routes:0:Slack:Channel"] = "C0PAY";
        setup.Settings["AgentSentinel:Routing:Routes:0:Teams:Channel"] = TeamsChannel;
        setup.Settings["AgentSentinel:Routing:Routes:0:Approvers:0"] = "U0ALICE";
        setup.Settings["AgentSentinel:Routing:Routes:0:Approvers:1"] = AliceAad;
        return setup;
    }
}
