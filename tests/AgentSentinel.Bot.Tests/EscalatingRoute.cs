using System.Globalization;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Bot.Tests;

/// <summary>The route the follow-up tests share: "payments" posts to a Slack and a Teams channel and names Alice (by her
/// Slack id), reminds in the threads and escalates to the leads' Slack and Teams channels, mentioning whom it is told.
/// Slack posts are not spaced and the server runs on the test's clock.</summary>
internal static class EscalatingRoute
{
    public const string PayChannel = "C0PAY";
    public const string LeadsChannel = "C0LEADS";
    public const string TeamsChannel = "19:general0123@thread.tacv2";
    public const string TeamsLeads = "19:leads0456@thread.tacv2";

    /// <summary>Both fakes with Alice and the boss in Slack, and the route with reminders after
    /// <paramref name="remindersMinutes"/> and one escalation level after <paramref name="escalateAfterMinutes"/>.</summary>
    public static ChatSetup Setup(StorageProvider provider, string database, FakeTimeProvider time, int[] remindersMinutes, int escalateAfterMinutes, params string[] mentions)
    {
        var setup = new ChatSetup(provider, database) { Slack = true, Teams = true, SlackPacingSeconds = "0", Time = time };
        setup.SlackUsers["U0ALICE"] = ("Alice", "alice@example.com");
        setup.SlackUsers["U0BOSS"] = ("Boss", "boss@example.com");
        const string route = "AgentSentinel:Routing:Routes:0:";
        setup.Settings[route + "Name"] = "payments";
        setup.Settings[route + "Slack:Channel"] = PayChannel;
        setup.Settings[route + "Teams:Channel"] = TeamsChannel;
        setup.Settings[route + "Approvers:0"] = "U0ALICE";
        for (var i = 0; i < remindersMinutes.Length; i++)
        {
            setup.Settings[$"{route}RemindersMinutes:{i}"] = remindersMinutes[i].ToString(CultureInfo.InvariantCulture);
        }
        setup.Settings[route + "Escalation:0:AfterMinutes"] = escalateAfterMinutes.ToString(CultureInfo.InvariantCulture);
        setup.Settings[route + "Escalation:0:Slack:Channel"] = LeadsChannel;
        setup.Settings[route + "Escalation:0:Teams:Channel"] = TeamsLeads;
        for (var i = 0; i < mentions.Length; i++)
        {
            setup.Settings[$"{route}Escalation:0:Mention:{i}"] = mentions[i];
        }
        return setup;
    }
}
