using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace AgentSentinel.Testing;

/// <summary>What a chat test class starts: which fakes, their users, the host's settings (routes, approvers) and clock.</summary>
public sealed class ChatSetup(StorageProvider provider, string database)
{
    public StorageProvider Provider { get; } = provider;

    /// <summary>The name of the test database (a SQLite file or a PostgreSQL database).</summary>
    public string Database { get; } = database;

    /// <summary>Start a fake Slack Web API and point the host at it.</summary>
    public bool Slack { get; init; }

    /// <summary>Start a fake Bot Connector (Teams) and point the host at it.</summary>
    public bool Teams { get; init; }

    /// <summary>The spacing of the host's writes to one Slack channel, as <see cref="FakeSlackServer.HostSettings"/> takes it.</summary>
    public string SlackPacingSeconds { get; init; } = "0.02";

    /// <summary>The members of the fake Slack workspace, by user id.</summary>
    public Dictionary<string, SlackTestUser> SlackUsers { get; } = [];

    /// <summary>The members the fake Bot Connector's lookup knows, by Teams user id.</summary>
    public Dictionary<string, TeamsTestMember> TeamsMembers { get; } = [];

    /// <summary>The host's settings beyond the fakes' own (routes, approvers, base URL); these win over the fakes'.</summary>
    public Dictionary<string, string?> Settings { get; } = [];

    /// <summary>The server's clock, moved by the test; Slack requests are then signed at its time.</summary>
    public FakeTimeProvider? Time { get; init; }

    public bool RunJobServer { get; init; } = true;

    /// <summary>The name of the agent key that <see cref="ChatHarness.Agent"/> uses.</summary>
    public string AgentKeyName { get; init; } = "agent";

    /// <summary>The agent ids of the agent key (its name when none are given).</summary>
    public string[]? AgentIds { get; init; }
}

/// <summary>The world of a chat test class: the fake Slack and/or fake Bot Connector on loopback, the real host
/// configured for them, a client with an agent key and one with none (what Slack and Teams call), and the ways a test
/// talks to the chat surfaces: signed Slack requests, Teams activities with a minted token, and waiting for what the
/// fakes recorded (posts, redraws, private replies).</summary>
public sealed class ChatHarness : IAsyncDisposable
{
    private readonly List<HttpClient> _clients = [];
    private readonly FakeSlackServer? _slack;
    private readonly FakeBotConnector? _bot;
    private HttpClient? _admin;

    private ChatHarness(FakeSlackServer? slack, FakeBotConnector? bot, FakeTimeProvider? time)
    {
        _slack = slack;
        _bot = bot;
        Time = time;
    }

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public FakeSlackServer Slack => _slack ?? throw new InvalidOperationException("This harness was set up without a fake Slack.");

    public FakeBotConnector Bot => _bot ?? throw new InvalidOperationException("This harness was set up without a fake Bot Connector.");

    public AgentSentinelApp App { get; private set; } = null!;

    public FakeTimeProvider? Time { get; }

    /// <summary>A client with the agent key.</summary>
    public HttpClient Agent { get; private set; } = null!;

    /// <summary>A client with no key: how Slack and the Bot Connector reach the server.</summary>
    public HttpClient Anonymous { get; private set; } = null!;

    /// <summary>Starts the fakes, then the host (with its job server unless told otherwise), and creates the agent key.</summary>
    public static async Task<ChatHarness> StartAsync(ChatSetup setup)
    {
        var slack = setup.Slack ? await FakeSlackServer.StartAsync() : null;
        var bot = setup.Teams ? await FakeBotConnector.StartAsync() : null;
        var harness = new ChatHarness(slack, bot, setup.Time);
        var settings = new Dictionary<string, string?>();
        if (slack is not null)
        {
            foreach (var (id, user) in setup.SlackUsers)
            {
                slack.Users[id] = user;
            }
            Add(settings, slack.HostSettings(setup.SlackPacingSeconds));
        }
        if (bot is not null)
        {
            foreach (var (id, member) in setup.TeamsMembers)
            {
                bot.Members[id] = member;
            }
            Add(settings, bot.HostSettings());
        }
        Add(settings, setup.Settings);
        harness.App = new AgentSentinelApp(await TestStorage.CreateAsync(setup.Provider, setup.Database), setup.Time, setup.RunJobServer, settings);
        _ = harness.App.Server;
        harness.Agent = harness.Track(harness.App.Client(await harness.App.CreateKeyAsync(setup.AgentKeyName, [Scopes.Agent], agentIds: setup.AgentIds)));
        harness.Anonymous = harness.Track(harness.App.Client(null));
        return harness;
    }

    private static void Add(Dictionary<string, string?> settings, IEnumerable<KeyValuePair<string, string?>> more)
    {
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }
    }

    private HttpClient Track(HttpClient client)
    {
        _clients.Add(client);
        return client;
    }

    /// <summary>Creates an approver key for <paramref name="email"/> and returns its id.</summary>
    public async Task<string> ApproverAsync(string name, string email) =>
        (await App.CreateKeyWithIdAsync(name, [Scopes.Approver], email)).Id;

    /// <summary>Creates an approver key for <paramref name="email"/> and returns a client that uses it.</summary>
    public async Task<HttpClient> ApproverClientAsync(string name, string email) =>
        Track(App.Client(await App.CreateKeyAsync(name, [Scopes.Approver], email)));

    /// <summary>A client with the bootstrap admin key.</summary>
    public HttpClient Admin => _admin ??= Track(App.Client());

    // ---- the agent API ----

    /// <summary>Creates a request as the agent (it must be created) and returns its id.</summary>
    public async Task<string> CreateAsync(object request)
    {
        var response = await Agent.PostAsJsonAsync("/api/v1/approvals", request, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (string)(await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!;
    }

    /// <summary>The request as <c>GET /api/v1/approvals/{id}</c> shows it to <paramref name="client"/> (the admin by default).</summary>
    public async Task<JsonObject> DetailAsync(string id, HttpClient? client = null) =>
        (await (await (client ?? Admin).GetAsync($"/api/v1/approvals/{id}", Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct))!;

    /// <summary>The request as the agent's poll shows it.</summary>
    public async Task<JsonObject> PollAsync(string id) =>
        (await (await Agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct))!;

    public async Task<string> StatusAsync(string id) => (string)(await PollAsync(id))["status"]!;

    // ---- Slack ----

    /// <summary>Sends a form to a Slack endpoint, signed as Slack signs it (at the fake clock's time, if there is one).</summary>
    public Task<HttpResponseMessage> SlackFormAsync(string path, string form) =>
        Anonymous.SendAsync(SlackRequests.Signed(path, form, at: Time?.GetUtcNow()), Ct);

    /// <summary>Sends an interaction payload (a click, a modal's submission) to <c>/slack/interactions</c>.</summary>
    public Task<HttpResponseMessage> SlackInteractionAsync(JsonObject payload) =>
        SlackFormAsync("/slack/interactions", SlackRequests.PayloadForm(payload));

    /// <summary><paramref name="user"/> clicks a button (<paramref name="verb"/>: approve, reject, ...) on a Slack message.</summary>
    public Task<HttpResponseMessage> SlackClickAsync(string user, string verb, string id, string channel, string ts) =>
        SlackInteractionAsync(SlackRequests.BlockActions(user, verb, id, channel, ts));

    /// <summary><paramref name="user"/> submits a decision modal (<paramref name="callbackId"/>: decision_approve, ...).</summary>
    public Task<HttpResponseMessage> SlackSubmitAsync(string user, string callbackId, string id, string? text) =>
        SlackInteractionAsync(SlackRequests.ViewSubmission(user, callbackId, id, text));

    /// <summary><paramref name="user"/> types <c>/approvals <paramref name="text"/></c> in <paramref name="channel"/>.</summary>
    public Task<HttpResponseMessage> SlackCommandAsync(string user, string channel, string text = "", string? userName = null) =>
        SlackFormAsync("/slack/commands",
            $"token=t&team_id={FakeSlackServer.TeamId}&channel_id={channel}&user_id={user}&user_name={userName ?? user.ToLowerInvariant()}&command=%2Fapprovals&text={Uri.EscapeDataString(text)}&trigger_id=1.2.3");

    /// <summary>Waits for the top-level message of request <paramref name="id"/> in <paramref name="channel"/>.</summary>
    public Task<JsonObject> SlackPostAsync(string channel, string id) =>
        Slack.WaitForAsync(s => s.Messages(channel).FirstOrDefault(m => ChatText.IdOf(m) == id && m["thread_ts"] is null), what: $"the message of {id} in {channel}");

    /// <summary>Waits for the first redraw (<c>chat.update</c>) of the message <paramref name="ts"/> that <paramref name="when"/> accepts.</summary>
    public Task<JsonObject> SlackRedrawAsync(string ts, Func<JsonObject, bool> when, string what) =>
        Slack.WaitForAsync(s => s.CallsTo("chat.update").Select(c => c.Body).FirstOrDefault(b => (string?)b["ts"] == ts && when(b)), what: what);

    /// <summary>Waits for the first private (ephemeral) reply to <paramref name="user"/>.</summary>
    public Task<FakeSlackServer.Call> EphemeralForAsync(string user) =>
        Slack.WaitForAsync(s => s.CallsTo("chat.postEphemeral").FirstOrDefault(c => (string?)c.Body["user"] == user), what: $"the ephemeral reply to {user}");

    // ---- Teams ----

    /// <summary>Sends an activity to <c>/api/messages</c> with <paramref name="token"/>, or a good one the fake Bot Connector minted.</summary>
    public Task<HttpResponseMessage> SendActivityAsync(JsonObject activity, string? token = null)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, "/api/messages") { Content = JsonContent.Create(activity) };
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token ?? Bot.SignToken());
        return Anonymous.SendAsync(message, Ct);
    }

    /// <summary>Installs the bot in a Teams channel (the conversation update Teams sends), which must be accepted.</summary>
    public async Task InstallBotAsync(string channel, string fromId, string fromAad) =>
        Assert.Equal(HttpStatusCode.OK, (await SendActivityAsync(Bot.ConversationUpdate(channel, fromId, fromAad))).StatusCode);

    /// <summary>Sends a card action (an invoke), which must be answered with 200, and returns the card answered.</summary>
    public async Task<JsonObject> CardAnswerAsync(JsonObject invoke)
    {
        var response = await SendActivityAsync(invoke);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["value"]!.AsObject();
    }

    /// <summary>Waits for the last card posted (<c>create</c>) that names request <paramref name="id"/>.</summary>
    public Task<FakeBotConnector.Call> TeamsCardAsync(string id) =>
        Bot.WaitForAsync(b => b.CallsTo("create").LastOrDefault(c => c.Body!.ToJsonString().Contains(id, StringComparison.Ordinal)), what: $"the card of {id}");

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }
        if (App is not null)
        {
            await App.DisposeAsync();
        }
        if (_bot is not null)
        {
            await _bot.DisposeAsync();
        }
        if (_slack is not null)
        {
            await _slack.DisposeAsync();
        }
    }
}

/// <summary>Reading what the chat surfaces were sent: Slack messages' metadata and blocks, Teams cards' elements.</summary>
public static class ChatText
{
    /// <summary>The request a Slack message is about (its metadata).</summary>
    public static string? IdOf(JsonObject message) => (string?)message["metadata"]?["event_payload"]?["approval_id"];

    /// <summary>Which of a request's messages a Slack message is (root, reminder:1, escalation:1, ...).</summary>
    public static string? KeyOf(JsonObject message) => (string?)message["metadata"]?["event_payload"]?["delivery_key"];

    /// <summary>The Slack block with the given id, if the message has it (a message without blocks fails).</summary>
    public static JsonNode? Block(JsonObject message, string blockId) =>
        message["blocks"]!.AsArray().SingleOrDefault(b => (string?)b!["block_id"] == blockId);

    /// <summary>The text of the Slack block with the given id.</summary>
    public static string? BlockText(JsonObject message, string blockId) => (string?)Block(message, blockId)?["text"]?["text"];

    /// <summary>The Adaptive Card a Teams activity carries.</summary>
    public static JsonObject Card(JsonObject? activity) => activity!["attachments"]![0]!["content"]!.AsObject();

    /// <summary>The card element with the given id, in the body or one level down (in a container).</summary>
    public static JsonNode? CardElement(JsonObject card, string id) =>
        card["body"]!.AsArray().FirstOrDefault(e => (string?)e!["id"] == id)
            ?? card["body"]!.AsArray().SelectMany(e => e!["items"]?.AsArray() ?? []).FirstOrDefault(e => (string?)e!["id"] == id);

    public static string? CardText(JsonObject card, string id) => (string?)CardElement(card, id)?["text"];

    /// <summary>Card text as a reader sees it: markdown escapes and word joiners removed.</summary>
    public static string Plain(string? text) => (text ?? "").Replace("\\", "", StringComparison.Ordinal).Replace("\u2060", "", StringComparison.Ordinal);

    /// <summary>Every <c>text</c> in a card (or a reply), depth first.</summary>
    public static IEnumerable<string> Texts(JsonNode? node) => node switch
    {
        JsonObject o => o.SelectMany(p => p.Key == "text" && p.Value is JsonValue v && v.TryGetValue<string>(out var text) ? [text] : Texts(p.Value)),
        JsonArray a => a.SelectMany(Texts),
        _ => [],
    };
}
