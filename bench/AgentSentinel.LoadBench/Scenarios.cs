using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AgentSentinel.Testing;
using Npgsql;
using static AgentSentinel.LoadBench.Report;

namespace AgentSentinel.LoadBench;

internal static class Scenarios
{
    private static readonly object TypicalBody = new
    {
        action_name = "transfer_funds",
        action_description = "Pay invoice 2026-0042 to ACME GmbH",
        agent_id = "billing-agent",
        run_id = "run-1",
        priority = "medium",
        risk_level = "high",
        estimated_cost = 1250.50m,
        timeout_seconds = 3600,
        action_inputs = new { amount = 1250.50m, currency = "EUR", iban = "DE89370400440532013000" },
        context = new { invoice = "2026-0042" },
    };

    public static async Task<int> SmokeAsync()
    {
        var failures = 0;
        failures += await IntakeAsync(200, [1, 16]);
        failures += await PollAsync(16, 3);
        failures += await WaitAsync(50);
        failures += await ExpiryAsync(200, 5);
        failures += await ScaleAsync(20_000);
        failures += await FanOutAsync(10, 2);
        failures += await MemoryAsync(200, 50);
        failures += await Kill9Async(6, 4);
        failures += await TwinAsync(30, 40);
        return failures;
    }

    private static int Check(bool ok, string what)
    {
        Line($"check: {(ok ? "ok  " : "FAIL")} {what}");
        return ok ? 0 : 1;
    }

    private static async Task<(ServerProcess Server, string Cs, PostgresServer Pg)> StartAsync(string name, IDictionary<string, string>? settings = null)
    {
        var (pg, cs) = await Pg.NewDatabaseAsync(name);
        var server = new ServerProcess(cs, settings);
        await server.StartAsync();
        return (server, cs, pg);
    }

    private static async Task<string> CreateAsync(HttpClient client, object body)
    {
        using var response = await client.PostAsJsonAsync("api/v1/approvals", body);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw new InvalidOperationException($"create answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    /// <summary>Runs <paramref name="total"/> calls on <paramref name="workers"/> concurrent loops; returns latencies and elapsed seconds.</summary>
    private static async Task<(List<double> Latencies, double Seconds)> RunAsync(int total, int workers, Func<int, Task> call)
    {
        var latencies = new ConcurrentBag<double>();
        var next = -1;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < total)
            {
                var start = NowMs;
                await call(i);
                latencies.Add(NowMs - start);
            }
        }));
        return ([.. latencies], wall.Elapsed.TotalSeconds);
    }

    // ---- 1. intake ----------------------------------------------------------------------------------------------

    public static async Task<int> IntakeAsync(int perLevel, int[] levels)
    {
        Load("intake");
        var (server, cs, pg) = await StartAsync("intake");
        await using var _ = server;
        using var agent = server.Client(await server.CreateKeyAsync("bench agent", ["agent"]));
        var failures = 0;
        var sizeBefore = await Pg.ScalarAsync<long>(cs, "SELECT pg_database_size(current_database())");
        var created = 0;
        var script = Path.Combine(Path.GetTempPath(), $"agentsentinel-intake-{Guid.NewGuid():N}.sql");
        // What a create stores, without the server: the approval, its created event and its outbox entry (with the copy
        // of the request the entry keeps) in one durable transaction per request. The entry is stored as handled: the
        // server's outbox dispatcher must not take these rows (their copy is not the server's format) while the next
        // level's API phase runs.
        await File.WriteAllTextAsync(script, """
            BEGIN;
            WITH a AS (INSERT INTO approvals (id, action_name, action_description, agent_id, run_id, task_id, mission_id, estimated_cost, risk_level, priority,
                action_inputs, context, callback_url, created_at, expires_at, status, requester_key_id, requester_email, route_name, approvers, version, updated_at)
            VALUES (gen_random_uuid()::text, 'transfer_funds', 'Pay invoice 2026-0042 to ACME GmbH', 'billing-agent', 'run-1', NULL, NULL, 1250.5, 'high', 'medium',
                '{"amount":1250.5,"currency":"EUR","iban":"DE89370400440532013000"}', '{"invoice":"2026-0042"}', NULL,
                (extract(epoch from clock_timestamp()) * 1000000)::bigint, (extract(epoch from clock_timestamp()) * 1000000)::bigint + 3600000000,
                'pending', 'key-bench', NULL, NULL, '[]', 1, (extract(epoch from clock_timestamp()) * 1000000)::bigint)
            RETURNING *),
            e AS (INSERT INTO approval_events (approval_id, kind, at, actor, surface, details)
                SELECT id, 'created', created_at, 'bench agent', 'api', NULL FROM a)
            INSERT INTO outbox (approval_id, kind, transition, actor, follow_up, request, created_at, due_at, trace_parent, handled_at)
            SELECT id, 'Created', NULL, NULL, NULL, row_to_json(a)::text, created_at, created_at, NULL, created_at FROM a;
            COMMIT;
            """);
        try
        {
            // A warm-up first (not measured, as in the poll scenario): the creates of the first measured level should not
            // carry the server's start-up JIT work, which pgbench does not have.
            async Task CreateOneAsync(int _)
            {
                await CreateAsync(agent, TypicalBody);
                Interlocked.Increment(ref created);
            }
            var warmUp = Math.Min(perLevel, 2000);
            await RunAsync(warmUp, levels.Max(), CreateOneAsync);
            Load($"intake (after a warm-up of {warmUp} creates)");
            foreach (var level in levels)
            {
                var serverCpu = Cpu.ServerSeconds(server);
                var pgCpu = await Cpu.PostgresSecondsAsync(cs);
                var commits = await Cpu.CommitsAsync(cs);
                var (lat, secs) = await RunAsync(perLevel, level, CreateOneAsync);
                var apiRate = perLevel / secs;
                // The profile of the run: CPU per create on each side and database transactions per create (the server's
                // own and its job storage's, including effects still being carried out right after the run).
                serverCpu = Cpu.ServerSeconds(server) - serverCpu;
                pgCpu = await Cpu.PostgresSecondsAsync(cs) - pgCpu;
                commits = await Cpu.CommitsAsync(cs) - commits;
                Line($"intake c={level} profile: server CPU {F(serverCpu * 1000 / perLevel, "F2")} ms/create, PostgreSQL CPU {F(pgCpu * 1000 / perLevel, "F2")} ms/create, " +
                    $"{F((double)commits / perLevel, "F1")} commits/create");
                var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
                var pgRate = PgBench(pg, cs, script, level, perLevel);
                Line($"intake c={level}: api {F(apiRate)} creates/s, latency ms {Percentiles(lat)} (load {load}); pgbench same rows {F(pgRate)} tx/s; " +
                    $"api/pgbench = {F(apiRate / pgRate, "F3")} (goal >= 0.500: {(apiRate / pgRate >= 0.5 ? "met" : "not met")})");
            }
            var sizeAfter = await Pg.ScalarAsync<long>(cs, "SELECT pg_database_size(current_database())");
            var hangfireRows = await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM hangfire.job");
            Line($"intake: database growth {F((sizeAfter - sizeBefore) / 1024d / 1024d)} MiB for {created} API creates and the pgbench rows; hangfire jobs stored {hangfireRows}");
            failures += Check(await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM approvals WHERE requester_key_id <> 'key-bench'") == created, $"all {created} acknowledged creates are stored");
        }
        finally
        {
            File.Delete(script);
        }
        return failures;
    }

    private static double PgBench(PostgresServer pg, string cs, string script, int clients, int transactions)
    {
        var db = new NpgsqlConnectionStringBuilder(cs).Database;
        var psi = new ProcessStartInfo(Path.Combine(Pg.BinDir, "pgbench"),
            $"-n -h 127.0.0.1 -p {pg.Port} -U postgres -c {clients} -j {Math.Min(clients, 2)} -t {Math.Max(1, transactions / clients)} -f \"{script}\" {db}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("tps = ", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"pgbench: {output} {err}");
        return double.Parse(line.Split(' ')[2], CultureInfo.InvariantCulture);
    }

    // ---- 2. poll ------------------------------------------------------------------------------------------------

    public static async Task<int> PollAsync(int clients, int seconds)
    {
        Load("poll");
        var (server, cs, _) = await StartAsync("poll");
        await using var s = server;
        using var agent = server.Client(await server.CreateKeyAsync("bench agent", ["agent"]));
        var ids = new List<string>();
        for (var i = 0; i < 500; i++)
        {
            ids.Add(await CreateAsync(agent, TypicalBody));
        }
        // Half of them decided, so /wait answers at once for those and after timeout_seconds=0 for the others.
        using var approver = server.Client(await server.CreateKeyAsync("bench approver", ["approver"], $"approver-{Guid.NewGuid():N}@example.com"));
        for (var i = 0; i < ids.Count; i += 2)
        {
            using var decided = await approver.PostAsJsonAsync($"api/v1/approvals/{ids[i]}/approve", new { notes = "ok" });
            decided.EnsureSuccessStatusCode();
        }
        async Task<(double Rate, ConcurrentBag<double> Latencies, int Errors)> Profiled(string what, Func<Random, string> url)
        {
            // The profile of the run: CPU per answer on each side and database transactions (round trips: each read is
            // its own) per answer.
            var serverCpu = Cpu.ServerSeconds(server);
            var pgCpu = await Cpu.PostgresSecondsAsync(cs);
            var commits = await Cpu.CommitsAsync(cs);
            var result = await HammerAsync(agent, clients, seconds, url);
            var answers = result.Latencies.Count;
            serverCpu = Cpu.ServerSeconds(server) - serverCpu;
            pgCpu = await Cpu.PostgresSecondsAsync(cs) - pgCpu;
            commits = await Cpu.CommitsAsync(cs) - commits;
            Line($"{what} c={clients}: {F(result.PerSecond)} answers/s, latency ms {Percentiles(result.Latencies)}; profile: server CPU {F(serverCpu * 1000 / answers, "F3")} ms/answer, " +
                $"PostgreSQL CPU {F(pgCpu * 1000 / answers, "F3")} ms/answer, {F((double)commits / answers, "F2")} database transactions/answer");
            return result;
        }
        Line($"poll: {ids.Count} requests stored, half decided; server pid {server.Pid}");
        // A warm-up of both paths first (not measured), so the poll phase does not carry the start-up's JIT work and
        // the two phases are comparable.
        var warmUp = Math.Max(1, Math.Min(5, seconds / 3));
        await HammerAsync(agent, clients, warmUp, r => $"api/v1/approvals/{ids[r.Next(ids.Count)]}/poll");
        await HammerAsync(agent, clients, warmUp, r => $"api/v1/approvals/{ids[r.Next(ids.Count)]}/wait?timeout_seconds=0");
        Load("poll (after the warm-up)");
        var (product, productLatencies, errors) = await Profiled("poll", r => $"api/v1/approvals/{ids[r.Next(ids.Count)]}/poll");
        Load("wait");
        var (waits, _, waitErrors) = await Profiled("wait", r => $"api/v1/approvals/{ids[r.Next(ids.Count)]}/wait?timeout_seconds=0");
        errors += waitErrors;

        // The limit beside it, same run: a bare Kestrel minimal API (in this process, on another loopback port)
        // answering with the bytes of a real poll answer.
        var body = await agent.GetByteArrayAsync($"api/v1/approvals/{ids[0]}/poll");
        await using var bare = await BareKestrel.StartAsync(body);
        using var bareClient = new HttpClient { BaseAddress = bare.BaseAddress };
        await HammerAsync(bareClient, clients, warmUp, _ => "poll");
        Load("poll bare Kestrel");
        var (limit, bareLatencies, bareErrors) = await HammerAsync(bareClient, clients, seconds, _ => "poll");
        Line($"poll c={clients}: bare Kestrel minimal API, same {body.Length}-byte JSON: {F(limit)} answers/s, latency ms {Percentiles(bareLatencies)}");
        Line($"poll c={clients}: ratio product / bare Kestrel = {F(product / limit, "F3")} (goal >= 0.5)");
        Line($"wait c={clients}: ratio product / bare Kestrel = {F(waits / limit, "F3")} (goal >= 0.5)");
        return Check(errors == 0 && bareErrors == 0, $"every poll answered 200 ({errors} did not, bare {bareErrors})");
    }

    /// <summary>GETs from <paramref name="clients"/> concurrent loops for <paramref name="seconds"/>: answers per second,
    /// latencies, and how many were not 200.</summary>
    private static async Task<(double PerSecond, ConcurrentBag<double> Latencies, int Errors)> HammerAsync(HttpClient client, int clients, int seconds, Func<Random, string> url)
    {
        var latencies = new ConcurrentBag<double>();
        var errors = 0;
        var stop = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            var r = new Random(c);
            while (stop.Elapsed.TotalSeconds < seconds)
            {
                var start = NowMs;
                using var response = await client.GetAsync(url(r));
                await response.Content.ReadAsByteArrayAsync();
                latencies.Add(NowMs - start);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        }));
        return (latencies.Count / stop.Elapsed.TotalSeconds, latencies, errors);
    }

    // ---- 3. decision to agent -------------------------------------------------------------------------------------

    public static async Task<int> WaitAsync(int agents)
    {
        Load("wait");
        var (server, _, _) = await StartAsync("wait");
        await using var s = server;
        // A smaller round first (not measured), so the measured one does not carry the start-up's JIT work.
        await WaitRoundAsync(server, server, Math.Min(agents, 100));
        Load("wait (after the warm-up)");
        var (lat, wrong) = await WaitRoundAsync(server, server, agents);
        Line($"wait {agents} agents: decision response -> waiting agent answered (ms) {Percentiles(lat)}");
        return Check(wrong == 0 && lat.Count == agents, $"all {agents} waiters got 'approved' ({wrong} did not)");
    }

    /// <summary>Creates requests on <paramref name="waitOn"/>, parks a waiter on each there, then approves each on
    /// <paramref name="decideOn"/>; returns the time from each decision's response to its waiter's response.</summary>
    private static async Task<(List<double> Latencies, int Wrong)> WaitRoundAsync(ServerProcess waitOn, ServerProcess decideOn, int agents)
    {
        using var agent = waitOn.Client(await waitOn.CreateKeyAsync("bench agent", ["agent"]), agents + 16);
        using var approver = decideOn.Client(await decideOn.CreateKeyAsync("bench approver", ["approver"], $"approver-{Guid.NewGuid():N}@example.com"));
        var ids = new string[agents];
        await RunAsync(agents, 16, async i => ids[i] = await CreateAsync(agent, TypicalBody));
        var decidedAt = new double[agents];
        var sentAt = new double[agents];
        var answeredAt = new double[agents];
        var wrong = 0;
        var waiters = Enumerable.Range(0, agents).Select(async i =>
        {
            using var response = await agent.GetAsync($"api/v1/approvals/{ids[i]}/wait?timeout_seconds=30");
            var body = await response.Content.ReadFromJsonAsync<JsonObject>();
            answeredAt[i] = NowMs;
            if ((string?)body?["status"] != "approved")
            {
                Interlocked.Increment(ref wrong);
            }
        }).ToList();
        await Task.Delay(TimeSpan.FromSeconds(Math.Max(2, agents / 250.0)));
        await RunAsync(agents, 8, async i =>
        {
            sentAt[i] = NowMs;
            using var response = await approver.PostAsJsonAsync($"api/v1/approvals/{ids[i]}/approve", new { notes = "ok" });
            decidedAt[i] = NowMs;
            response.EnsureSuccessStatusCode();
        });
        await Task.WhenAll(waiters);
        Line($"  (from sending each decision to its waiter's answer, ms: {Percentiles(Enumerable.Range(0, agents).Select(i => answeredAt[i] - sentAt[i]))}; " +
            $"decision call itself: {Percentiles(Enumerable.Range(0, agents).Select(i => decidedAt[i] - sentAt[i]))})");
        return ([.. Enumerable.Range(0, agents).Select(i => answeredAt[i] - decidedAt[i])], wrong);
    }

    // ---- 4. expiry precision ---------------------------------------------------------------------------------------

    private static Dictionary<string, string> SlackSettings(FakeSlackServer fake, string pacing, params (string Agent, string Channel)[] routes)
    {
        var settings = fake.HostSettings(pacing).ToDictionary(kv => kv.Key.Replace(":", "__", StringComparison.Ordinal), kv => kv.Value!);
        for (var i = 0; i < routes.Length; i++)
        {
            settings[$"AgentSentinel__Routing__Routes__{i}__Name"] = $"route-{i}";
            if (routes[i].Agent != "*")
            {
                settings[$"AgentSentinel__Routing__Routes__{i}__Match__Agents__0"] = routes[i].Agent;
            }
            settings[$"AgentSentinel__Routing__Routes__{i}__Slack__Channel"] = routes[i].Channel;
        }
        return settings;
    }

    /// <summary>Root messages stored by the fake Slack, per approval id.</summary>
    private static Dictionary<string, List<JsonObject>> RootMessages(FakeSlackServer fake, IEnumerable<string> channels) =>
        channels.SelectMany(fake.Messages)
            .Where(m => (string?)m["metadata"]?["event_payload"]?["delivery_key"] == "root" || m["thread_ts"] is null)
            .Where(m => m["metadata"]?["event_payload"]?["approval_id"] is not null)
            .GroupBy(m => (string)m["metadata"]!["event_payload"]!["approval_id"]!)
            .ToDictionary(g => g.Key, g => g.ToList());

    /// <summary>With <paramref name="leadSeconds"/> (above 0), the deadlines are set on a fixed schedule instead of after
    /// each creation: request i is due <c>lead + i * spread / requests</c> seconds after the run starts, so they come at
    /// <c>requests / spread</c> a second whatever the intake rate, as long as every request is created within the lead
    /// (<c>timeout_seconds</c> is whole seconds, so each deadline falls within a second of its slot).</summary>
    public static async Task<int> ExpiryAsync(int requests, int spreadSeconds, int leadSeconds = 0)
    {
        Load("expiry");
        await using var fake = await FakeSlackServer.StartAsync();
        var (server, cs, _) = await StartAsync("expiry", SlackSettings(fake, "0", ("*", "C0EXPIRY")));
        await using var s = server;
        using var agent = server.Client(await server.CreateKeyAsync("bench agent", ["agent"]));
        using var approver = server.Client(await server.CreateKeyAsync("bench approver", ["approver"], "approver@example.com"));
        var lead = leadSeconds > 0 ? leadSeconds : Math.Max(10, requests / 300);
        var firstDue = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(lead);
        int TimeoutOf(int i) => leadSeconds > 0
            ? Math.Max(1, (int)Math.Ceiling((firstDue + TimeSpan.FromSeconds(i * (double)spreadSeconds / requests) - DateTimeOffset.UtcNow).TotalSeconds))
            : lead + (i * spreadSeconds / requests);
        var ids = new string[requests];
        var deadlines = new DateTimeOffset[requests];
        var creating = Stopwatch.StartNew();
        await RunAsync(requests, 16, async i =>
        {
            using var response = await agent.PostAsJsonAsync("api/v1/approvals", new { action_name = "expire_me", agent_id = "expiry-agent", timeout_seconds = TimeoutOf(i) });
            var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
            ids[i] = body["id"]!.GetValue<string>();
            deadlines[i] = DateTimeOffset.Parse(body["expires_at"]!.GetValue<string>(), CultureInfo.InvariantCulture);
        });
        Line($"expiry: {requests} requests created in {F(creating.Elapsed.TotalSeconds)} s; deadlines from {deadlines.Min():HH:mm:ss.fff} to {deadlines.Max():HH:mm:ss.fff}");

        // Approvers racing the deadline: every tenth request gets an approve within 20 ms either side of it.
        var accepted = 0;
        var refused = 0;
        var race = Enumerable.Range(0, requests).Where(i => i % 10 == 0).Select(async i =>
        {
            var at = deadlines[i] + TimeSpan.FromMilliseconds((i % 41) - 20);
            var wait = at - DateTimeOffset.UtcNow;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }
            using var response = await approver.PostAsJsonAsync($"api/v1/approvals/{ids[i]}/approve", new { });
            Interlocked.Increment(ref response.StatusCode == HttpStatusCode.OK ? ref accepted : ref refused);
        }).ToList();
        await Task.WhenAll(race);

        var until = deadlines.Max() + TimeSpan.FromSeconds(120);
        while (DateTimeOffset.UtcNow < until && await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM approvals WHERE status IN ('pending', 'info_requested')") > 0)
        {
            await Task.Delay(1000);
        }
        var lateness = new List<double>();
        var expiredAt = new Dictionary<string, long>();
        await using (var c = new NpgsqlConnection(cs))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT id, updated_at - expires_at, expires_at FROM approvals WHERE status = 'expired'", c);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                lateness.Add(reader.GetInt64(1) / 1000d);
                expiredAt[reader.GetString(0)] = reader.GetInt64(2);
            }
        }
        // The chat update after expiry: the last chat.update of each expired request's message. Chat delivery may
        // still be draining a backlog (every request was posted too): wait until each message shows its expiry.
        var drain = Stopwatch.StartNew();
        bool Settled()
        {
            var now = RootMessages(fake, ["C0EXPIRY"]);
            return expiredAt.Keys.All(id => now.TryGetValue(id, out var m) && m[0]["blocks"]!.ToJsonString().Contains("*Expired*", StringComparison.Ordinal));
        }
        while (drain.Elapsed < TimeSpan.FromSeconds(600) && !Settled())
        {
            await Task.Delay(2000);
        }
        Line($"expiry: chat settled {F(drain.Elapsed.TotalSeconds)} s after every request had expired");
        var tsToId = RootMessages(fake, ["C0EXPIRY"]).ToDictionary(kv => (string)kv.Value[0]["ts"]!, kv => kv.Key);
        var chatLateness = fake.CallsTo("chat.update")
            .Where(u => tsToId.ContainsKey((string)u.Body["ts"]!))
            .GroupBy(u => tsToId[(string)u.Body["ts"]!])
            .Where(g => expiredAt.ContainsKey(g.Key))
            .Select(g => (g.Max(u => u.At).ToUnixTimeMilliseconds() * 1000d - expiredAt[g.Key]) / 1000d)
            .ToList();
        var open = await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM approvals WHERE status IN ('pending', 'info_requested')");
        var late = await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM approvals WHERE status IN ('approved', 'rejected') AND decided_at >= expires_at");
        var lateEvents = await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM approval_events e JOIN approvals a ON a.id = e.approval_id WHERE e.kind IN ('approved', 'rejected') AND e.at >= a.expires_at");
        var doubleExpired = await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM (SELECT approval_id FROM approval_events WHERE kind = 'expired' GROUP BY approval_id HAVING count(*) > 1) d");
        Line($"expiry: 'expired' recorded after the deadline (ms) {Percentiles(lateness)} ({F(requests * 60d / Math.Max(1, (deadlines.Max() - deadlines.Min()).TotalSeconds), "F0")} deadlines per minute; goal p99 < 1000 ms: {(Quantile(lateness, 0.99) < 1000 ? "met" : "not met")})");
        Line($"expiry: chat.update after the deadline (ms) {Percentiles(chatLateness)}");
        Line($"expiry: approvals racing the deadline: {accepted} accepted before it, {refused} refused");
        var failures = Check(open == 0, $"no request left open ({open})");
        failures += Check(late == 0 && lateEvents == 0, $"no decision accepted at or after a deadline (rows {late}, events {lateEvents})");
        failures += Check(doubleExpired == 0, $"each request expired once ({doubleExpired} twice)");
        var posted = RootMessages(fake, ["C0EXPIRY"]);
        var showing = expiredAt.Keys.Count(id => posted.TryGetValue(id, out var m) && m[0]["blocks"]!.ToJsonString().Contains("*Expired*", StringComparison.Ordinal));
        Line($"expiry: {chatLateness.Count} messages updated by chat.update, {showing - chatLateness.Count} first posted after the deadline already showing it");
        failures += Check(showing == lateness.Count, $"every expired request's chat message shows the expiry ({showing} of {lateness.Count})");
        failures += Check(posted.Values.All(v => v.Count == 1), "no message posted twice");
        return failures;
    }

    // ---- 5. scale ---------------------------------------------------------------------------------------------

    /// <summary>The kept cluster's directory (AGENTSENTINEL_SCALE_KEEP): the populated PostgreSQL data stays there after
    /// <c>scale</c>, and <c>scale-measure</c> measures it again with a later server build.</summary>
    private static string? ScaleKeep => Environment.GetEnvironmentVariable("AGENTSENTINEL_SCALE_KEEP") is { Length: > 0 } dir ? dir : null;

    private const string ScaleDatabase = "scale";

    public static async Task<int> ScaleAsync(int rows)
    {
        Load("scale");
        PostgresServer? kept = null;
        string cs;
        if (ScaleKeep is { } dir)
        {
            if (Directory.Exists(Path.Combine(dir, "data")))
            {
                throw new InvalidOperationException($"{dir} already holds a cluster: measure it with 'scale-measure', or delete it to load again");
            }
            kept = await PostgresServer.StartKeptAsync(dir);
            await Pg.ExecAsync(kept.AdminConnectionString, $"CREATE DATABASE {ScaleDatabase}");
            cs = kept.ConnectionString(ScaleDatabase);
            Line($"scale: the cluster stays in {Path.GetFullPath(dir)} (AGENTSENTINEL_SCALE_KEEP); measure it again with 'scale-measure'");
        }
        else
        {
            (_, cs) = await Pg.NewDatabaseAsync("scale");
        }
        try
        {
            // The server creates the schema (its migrations) and stops: the rows go in without a server polling the table.
            // One statistics read first runs the backfills the migrations queue (on the empty tables, as at an upgrade),
            // so the first read after the load measures the fold of the inserted rows alone.
            await using (var migrating = new ServerProcess(cs))
            {
                await migrating.StartAsync();
                using (var admin = migrating.Client())
                using (var read = await admin.GetAsync("api/v1/approvals/stats"))
                {
                    read.EnsureSuccessStatusCode();
                }
                await migrating.StopAsync();
            }
            var failures = await BulkLoadAsync(cs, rows);
            return failures + await MeasureScaleAsync(cs, TimeSpan.FromSeconds(60));
        }
        finally
        {
            if (kept is not null)
            {
                await kept.DisposeAsync();
            }
        }
    }

    /// <summary>The measurements of <see cref="ScaleAsync"/> again, against the cluster it kept in AGENTSENTINEL_SCALE_KEEP,
    /// with the server at AGENTSENTINEL_API_DLL or this repository's build (which first runs its pending migrations).</summary>
    public static async Task<int> ScaleMeasureAsync()
    {
        Load("scale-measure");
        var dir = ScaleKeep ?? throw new InvalidOperationException("set AGENTSENTINEL_SCALE_KEEP to the directory a 'scale' run kept");
        if (!Directory.Exists(Path.Combine(dir, "data")))
        {
            throw new InvalidOperationException($"{dir} holds no cluster: run 'scale' with AGENTSENTINEL_SCALE_KEEP first");
        }
        await using var kept = await PostgresServer.StartKeptAsync(dir);
        var cs = kept.ConnectionString(ScaleDatabase);
        Line($"scale-measure: the cluster in {Path.GetFullPath(dir)}, the server {ServerProcess.ApiDll}");
        return await MeasureScaleAsync(cs, TimeSpan.FromHours(2));
    }

    /// <summary>Rows as the API stores them: 30 days of history, 2 % still pending, each with its creation and decision
    /// events, the events already sealed into the audit chain as the server's minute job would seal them (same order,
    /// same hash, <see cref="AuditChain.EventHash"/>). Written with binary COPY: the requests on parallel connections, the
    /// events on one more, their chain computed here while they stream. The secondary indexes of the two tables and the
    /// events' foreign key are dropped during the load and re-created from their saved definitions after it; the
    /// triggers that record statistics changes stay (the product's own path, folded by the first reads).</summary>
    private static async Task<int> BulkLoadAsync(string cs, int rows)
    {
        var parallel = Environment.GetEnvironmentVariable("AGENTSENTINEL_SCALE_PARALLEL") is { Length: > 0 } p ? int.Parse(p, CultureInfo.InvariantCulture) : 2;
        var total = Stopwatch.StartNew();
        var part = Stopwatch.StartNew();
        if (await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM approvals") + await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM approval_events") != 0)
        {
            throw new InvalidOperationException("the scale database must start empty");
        }
        var indexes = new List<(string Name, string Definition)>();
        await using (var c = new NpgsqlConnection(cs))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() AND i.tablename IN ('approvals', 'approval_events') " +
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname) ORDER BY i.tablename, i.indexname", c);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                indexes.Add((reader.GetString(0), reader.GetString(1)));
            }
        }
        var foreignKeys = new List<(string Name, string Definition)>();
        await using (var c = new NpgsqlConnection(cs))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'approval_events'::regclass AND contype = 'f' ORDER BY conname", c);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                foreignKeys.Add((reader.GetString(0), reader.GetString(1)));
            }
        }
        foreach (var (name, _) in indexes)
        {
            await Pg.ExecAsync(cs, $"DROP INDEX \"{name}\"");
        }
        foreach (var (name, _) in foreignKeys)
        {
            await Pg.ExecAsync(cs, $"ALTER TABLE approval_events DROP CONSTRAINT \"{name}\"");
        }
        // The events carry the ids their seq and hash were computed with.
        await Pg.ExecAsync(cs, "ALTER TABLE approval_events ALTER COLUMN id SET GENERATED BY DEFAULT");
        Line($"scale: {indexes.Count} secondary indexes and {foreignKeys.Count} foreign key dropped for the load: {string.Join(", ", indexes.Select(i => i.Name).Concat(foreignKeys.Select(k => k.Name)))}");

        var generated = new ScaleRows(rows, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000);
        // A COPY of many rows waits at its end for the statistics triggers queued for each row: no command timeout, and
        // the requests go in chunks (each COPY its own transaction) so that queue stays small.
        var copyCs = new NpgsqlConnectionStringBuilder(cs) { CommandTimeout = 0 }.ConnectionString;
        const int chunk = 250_000;
        var chunks = new ConcurrentQueue<(long From, long To)>();
        for (long from = 1; from <= rows; from += chunk)
        {
            chunks.Enqueue((from, Math.Min(rows, from + chunk - 1)));
        }
        long events = 0;
        var writers = Enumerable.Range(0, parallel)
            .Select(_ => Task.Run(() =>
            {
                while (chunks.TryDequeue(out var range))
                {
                    CopyApprovals(copyCs, generated, range.From, range.To);
                }
            }))
            .Append(Task.Run(() => events = CopyEvents(copyCs, generated)));
        await Task.WhenAll(writers);
        await Pg.ExecAsync(cs, "ALTER TABLE approval_events ALTER COLUMN id SET GENERATED ALWAYS; " +
            "SELECT setval(pg_get_serial_sequence('approval_events', 'id'), (SELECT max(id) FROM approval_events))");
        Line($"scale: {rows} rows in chunks of {chunk} on {parallel} connections and their {events} events, sealed, on one more, copied in {F(part.Elapsed.TotalSeconds)} s");
        part.Restart();
        var definitions = new ConcurrentQueue<(string Name, string Definition)>(indexes);
        await Task.WhenAll(Enumerable.Range(0, parallel).Select(async _ =>
        {
            while (definitions.TryDequeue(out var index))
            {
                await Pg.ExecAsync(cs, $"SET maintenance_work_mem = '512MB'; {index.Definition}", timeoutSeconds: 0);
            }
        }));
        foreach (var (name, definition) in foreignKeys)
        {
            await Pg.ExecAsync(cs, $"SET maintenance_work_mem = '512MB'; ALTER TABLE approval_events ADD CONSTRAINT \"{name}\" {definition}", timeoutSeconds: 0);
        }
        Line($"scale: {indexes.Count} indexes and {foreignKeys.Count} foreign key re-created in {F(part.Elapsed.TotalSeconds)} s");
        part.Restart();
        await Task.WhenAll(Pg.ExecAsync(cs, "VACUUM ANALYZE approvals", timeoutSeconds: 0), Pg.ExecAsync(cs, "VACUUM ANALYZE approval_events", timeoutSeconds: 0));
        Line($"scale: VACUUM ANALYZE in {F(part.Elapsed.TotalSeconds)} s; the load in all {F(total.Elapsed.TotalSeconds)} s");
        return await CheckChainAsync(cs);
    }

    /// <summary>The bench's requests: request <c>g</c> (1..rows) is a pure function of <c>g</c>, the row count and the
    /// moment of the load, so the request writers and the event writer agree without talking.</summary>
    private sealed class ScaleRows(int rows, long nowMicros)
    {
        private const long Hour = 3_600_000_000;
        private static readonly string[] Risks = ["critical", "high", "medium", "low", "minimal"];
        private static readonly string[] Priorities = ["critical", "high", "medium", "low"];

        public int Rows => rows;

        /// <summary>A UUID-shaped id, different for every request and spread like random ones.</summary>
        public static string Id(long g)
        {
            Span<byte> bytes = stackalloc byte[16];
            BitConverter.TryWriteBytes(bytes, g * unchecked((long)0x9E3779B97F4A7C15));
            BitConverter.TryWriteBytes(bytes[8..], (g ^ 0x5DEECE66DL) * unchecked((long)0xC2B2AE3D27D4EB4F));
            bytes[7] = (byte)(0x40 | (bytes[7] & 0x0F));
            bytes[8] = (byte)(0x80 | (bytes[8] & 0x3F));
            return new Guid(bytes).ToString();
        }

        /// <summary>Recent requests (every fiftieth, created in the last half hour) are pending; the rest spread evenly
        /// over 30 days.</summary>
        public long Created(long g) => nowMicros - (g % 50 == 0 ? g % 1800 * 1_000_000 : (long)((Int128)30 * 86_400 * 1_000_000 * g / rows));

        /// <summary>As the server stores them: decided no later than now, expired at the deadline and only once it has passed.</summary>
        public string Status(long g) => g % 50 == 0 ? "pending" : (g % 10) switch
        {
            < 6 => "approved",
            < 8 => "rejected",
            < 9 => Created(g) + Hour <= nowMicros ? "expired" : "pending",
            _ => "cancelled",
        };

        public long? Decided(long g, string status) => status switch
        {
            "pending" => null,
            "expired" => Created(g) + Hour,
            _ => Math.Min(Created(g) + g % 3600 * 1_000_000, nowMicros),
        };

        public static string Risk(long g) => Risks[g % 5];

        public static string Priority(long g) => Priorities[g % 4];

        public static long Expires(long created) => created + Hour;
    }

    private static void CopyApprovals(string cs, ScaleRows rows, long from, long to)
    {
        using var c = new NpgsqlConnection(cs);
        c.Open();
        using var copy = c.BeginBinaryImport(
            "COPY approvals (id, action_name, action_description, agent_id, run_id, estimated_cost, risk_level, priority, action_inputs, context, " +
            "created_at, expires_at, status, decided_at, decided_by_email, decided_via, decision_notes, requester_key_id, approvers, version, updated_at) FROM STDIN (FORMAT BINARY)");
        for (var g = from; g <= to; g++)
        {
            var created = rows.Created(g);
            var status = rows.Status(g);
            var decided = rows.Decided(g, status);
            copy.StartRow();
            copy.Write(ScaleRows.Id(g), NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write("transfer_funds", NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write(string.Create(CultureInfo.InvariantCulture, $"Pay invoice {g} to ACME GmbH"), NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write(string.Create(CultureInfo.InvariantCulture, $"agent-{g % 100}"), NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write(string.Create(CultureInfo.InvariantCulture, $"run-{g}"), NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write(1250.5m, NpgsqlTypes.NpgsqlDbType.Numeric);
            copy.Write(ScaleRows.Risk(g), NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write(ScaleRows.Priority(g), NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write("""{"amount":1250.5,"currency":"EUR","iban":"DE89370400440532013000"}""", NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write("""{"invoice":"2026-0042"}""", NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write(created, NpgsqlTypes.NpgsqlDbType.Bigint);
            copy.Write(ScaleRows.Expires(created), NpgsqlTypes.NpgsqlDbType.Bigint);
            copy.Write(status, NpgsqlTypes.NpgsqlDbType.Text);
            if (decided is { } at)
            {
                copy.Write(at, NpgsqlTypes.NpgsqlDbType.Bigint);
                copy.Write("approver@example.com", NpgsqlTypes.NpgsqlDbType.Text);
            }
            else
            {
                copy.WriteNull();
                copy.WriteNull();
            }
            copy.Write("api", NpgsqlTypes.NpgsqlDbType.Text);
            copy.WriteNull();
            copy.Write("key-bench", NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write("[]", NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write(2L, NpgsqlTypes.NpgsqlDbType.Bigint);
            copy.Write(created, NpgsqlTypes.NpgsqlDbType.Bigint);
        }
        copy.Complete();
    }

    /// <summary>Every request's creation event, then its decision event if it has one, request by request, with ids and
    /// seq from 1 and each hash chained to the one before.</summary>
    private static long CopyEvents(string cs, ScaleRows rows)
    {
        using var c = new NpgsqlConnection(cs);
        c.Open();
        using var copy = c.BeginBinaryImport(
            "COPY approval_events (id, approval_id, kind, at, actor, actor_key_id, surface, details, seq, prev_hash, hash) FROM STDIN (FORMAT BINARY)");
        var previous = AuditChain.Genesis;
        long seq = 0;
        void Event(string approvalId, string kind, long at, string actor)
        {
            seq++;
            var hash = AuditChain.EventHash(previous, seq, seq, approvalId, kind,
                AuditChain.FormatTime(AgentSentinel.Core.Storage.TimeConversions.FromUnixMicroseconds(at)), actor, null, "api", null);
            copy.StartRow();
            copy.Write(seq, NpgsqlTypes.NpgsqlDbType.Bigint);
            copy.Write(approvalId, NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write(kind, NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write(at, NpgsqlTypes.NpgsqlDbType.Bigint);
            copy.Write(actor, NpgsqlTypes.NpgsqlDbType.Text);
            copy.WriteNull();
            copy.Write("api", NpgsqlTypes.NpgsqlDbType.Text);
            copy.WriteNull();
            copy.Write(seq, NpgsqlTypes.NpgsqlDbType.Bigint);
            copy.Write(previous, NpgsqlTypes.NpgsqlDbType.Text);
            copy.Write(hash, NpgsqlTypes.NpgsqlDbType.Text);
            previous = hash;
        }
        for (long g = 1; g <= rows.Rows; g++)
        {
            var id = ScaleRows.Id(g);
            var status = rows.Status(g);
            Event(id, "created", rows.Created(g), "agent");
            if (rows.Decided(g, status) is { } decided)
            {
                Event(id, status, decided, "approver@example.com");
            }
        }
        copy.Complete();
        return seq;
    }

    /// <summary>Checks the loaded chain with the server's own hash: the first and last thousand events, each from its
    /// predecessor's hash.</summary>
    private static async Task<int> CheckChainAsync(string cs)
    {
        var mismatches = 0;
        var checkedEvents = 0;
        await using var c = new NpgsqlConnection(cs);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT seq, id, approval_id, kind, at, actor, actor_key_id, surface, details, prev_hash, hash FROM approval_events " +
            "WHERE seq <= 1000 OR seq > (SELECT max(seq) - 1000 FROM approval_events) ORDER BY seq", c);
        await using var reader = await cmd.ExecuteReaderAsync();
        string? previous = null;
        long previousSeq = 0;
        while (await reader.ReadAsync())
        {
            string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
            var seq = reader.GetInt64(0);
            var expectedPrevious = seq == 1 ? AuditChain.Genesis : seq == previousSeq + 1 ? previous : null;
            var hash = AuditChain.EventHash(reader.GetString(9), seq, reader.GetInt64(1), reader.GetString(2), reader.GetString(3),
                AuditChain.FormatTime(AgentSentinel.Core.Storage.TimeConversions.FromUnixMicroseconds(reader.GetInt64(4))), Text(5), Text(6), reader.GetString(7), Text(8));
            if (hash != reader.GetString(10) || (expectedPrevious is not null && expectedPrevious != reader.GetString(9)))
            {
                mismatches++;
            }
            checkedEvents++;
            previous = reader.GetString(10);
            previousSeq = seq;
        }
        return Check(checkedEvents > 0 && mismatches == 0, $"the loaded chain matches the server's chain hash ({checkedEvents} events checked, {mismatches} differ)");
    }

    private static async Task<int> MeasureScaleAsync(string cs, TimeSpan readyWithin)
    {
        var starting = Stopwatch.StartNew();
        await using var server = new ServerProcess(cs);
        await server.StartAsync(readyWithin);
        Line($"scale: server ready (pending migrations run) in {F(starting.Elapsed.TotalSeconds)} s");
        var count = await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM approvals");
        var bytes = await Pg.ScalarAsync<long>(cs, "SELECT pg_total_relation_size('approvals') + pg_total_relation_size('approval_events')");
        var database = await Pg.ScalarAsync<long>(cs, "SELECT pg_database_size(current_database())");
        Line($"scale: approvals + events with indexes {F(bytes / 1024d / 1024d)} MiB = {F(bytes / (double)count, "F0")} bytes per request; database {F(database / 1024d / 1024d)} MiB");
        using var admin = server.Client();
        var ids = new List<string>();
        await using (var c = new NpgsqlConnection(cs))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT id FROM approvals TABLESAMPLE SYSTEM (1) LIMIT 500", c);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                ids.Add(reader.GetString(0));
            }
        }
        var failures = 0;
        async Task Measure(string name, int samples, Func<int, string> url)
        {
            Load($"scale {name}");
            var bad = 0;
            var (lat, _) = await RunAsync(samples, 1, async i =>
            {
                using var response = await admin.GetAsync(url(i));
                await response.Content.ReadAsByteArrayAsync();
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    bad++;
                }
            });
            Line($"scale {count} rows: {name} latency ms {Percentiles(lat)}");
            failures += Check(bad == 0, $"{name} answered 200 every time");
        }
        // The rows above went in with SQL: their statistics changes are folded into the rollups by the first read.
        Load("scale first statistics read (folds the changes of the inserted rows)");
        var fold = Stopwatch.StartNew();
        // Folding every inserted row at once can take minutes at these sizes: this one call waits as long as it takes.
        using var patient = server.Client();
        patient.Timeout = Timeout.InfiniteTimeSpan;
        using (var first = await patient.GetAsync("api/v1/approvals/stats"))
        {
            failures += Check(first.StatusCode == HttpStatusCode.OK, "the first statistics read answered 200");
        }
        Line($"scale {count} rows: first statistics read, folding every inserted row into the rollups: {F(fold.Elapsed.TotalSeconds)} s");
        // The same for the suggestions' rollups (the decisions of the inserted rows).
        fold.Restart();
        using (var first = await patient.GetAsync("api/v1/approvals/suggestions"))
        {
            failures += Check(first.StatusCode == HttpStatusCode.OK, "the first suggestions read answered 200");
        }
        Line($"scale {count} rows: first suggestions read, folding every inserted decision into the rollups: {F(fold.Elapsed.TotalSeconds)} s");
        await Measure("stats (30 days)", 50, _ => "api/v1/approvals/stats");
        await Measure("stats (7 days, window inside hours)", 50, _ => $"api/v1/approvals/stats?from={Iso(DateTimeOffset.UtcNow.AddDays(-7).AddMinutes(-17))}");
        await Measure("timeseries (30 days by day)", 50, _ => "api/v1/approvals/stats/timeseries");
        await Measure("timeseries (7 days by hour)", 50, _ => $"api/v1/approvals/stats/timeseries?bucket=hour&from={Iso(DateTimeOffset.UtcNow.AddDays(-7))}");
        await Measure("decision-time histogram (30 days)", 50, _ => "api/v1/approvals/stats/decision-times");
        await Measure("suggestions (30 days)", 50, _ => "api/v1/approvals/suggestions");
        await Measure("weekly digest (this week)", 20, _ => "api/v1/approvals/digest");
        await Measure("weekly digest (last week, finished)", 20, _ => $"api/v1/approvals/digest?week={LastWeek()}");
        await Measure("list pending (limit 50)", 100, _ => "api/v1/approvals?status=pending&limit=50");
        await Measure("list newest (limit 50)", 100, _ => "api/v1/approvals?limit=50");
        await Measure("list by agent (limit 50)", 100, i => $"api/v1/approvals?agent_id=agent-{i % 100}&limit=50");
        await Measure("poll", 500, i => $"api/v1/approvals/{ids[i % ids.Count]}/poll");
        await Measure("detail with events", 200, i => $"api/v1/approvals/{ids[i % ids.Count]}");
        // The plan of the inbox query (open requests, newest first), as the server runs it.
        await using (var c = new NpgsqlConnection(cs))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM approvals WHERE status = $1 AND expires_at + 0 > $2 ORDER BY created_at DESC, id DESC LIMIT 51", c);
            cmd.Parameters.AddWithValue("pending");
            cmd.Parameters.AddWithValue(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                Line($"  plan: {reader.GetString(0)}");
            }
        }
        return failures;
    }

    /// <summary>The ISO week before this one (UTC, the server's default digest time zone), as YYYY-Www.</summary>
    private static string LastWeek()
    {
        var t = DateTime.UtcNow.AddDays(-7);
        return string.Create(CultureInfo.InvariantCulture, $"{ISOWeek.GetYear(t)}-W{ISOWeek.GetWeekOfYear(t):D2}");
    }

    private static string Iso(DateTimeOffset t) => Uri.EscapeDataString(t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));

    // ---- 6. chat fan-out -------------------------------------------------------------------------------------------

    public static async Task<int> FanOutAsync(int requests, int channels)
    {
        Load("fanout");
        await using var fake = await FakeSlackServer.StartAsync();
        fake.ChannelWriteInterval = TimeSpan.FromSeconds(1);
        var names = Enumerable.Range(0, channels).Select(c => $"C0FAN{c}").ToArray();
        var (server, fanCs, _) = await StartAsync("fanout", SlackSettings(fake, "1", [.. names.Select((n, i) => ($"fan-agent-{i}", n))]));
        await using var s = server;
        using var agent = server.Client(await server.CreateKeyAsync("bench agent", ["agent"]));
        var wall = Stopwatch.StartNew();
        var ids = new string[requests];
        await RunAsync(requests, 8, async i => ids[i] = await CreateAsync(agent, new { action_name = "fan_out", agent_id = $"fan-agent-{i % channels}", timeout_seconds = 3600 }));
        var createdIn = wall.Elapsed.TotalSeconds;
        var until = TimeSpan.FromSeconds(requests / channels * 3 + 60);
        Dictionary<string, List<JsonObject>> roots;
        while ((roots = RootMessages(fake, names)).Count < requests && wall.Elapsed < until)
        {
            await Task.Delay(250);
        }
        var deliveredIn = wall.Elapsed.TotalSeconds;
        await Task.Delay(3000); // anything posted late would be a duplicate
        roots = RootMessages(fake, names);
        var duplicates = roots.Values.Sum(v => v.Count - 1);
        var lost = ids.Count(id => !roots.ContainsKey(id));
        Line($"fanout {requests} requests over {channels} channels: created in {F(createdIn)} s, all delivered after {F(deliveredIn)} s " +
            $"(floor at 1 msg/s/channel: {F(requests / (double)channels)} s); 429s {fake.RateLimitedCount}; duplicates {duplicates}; lost {lost}; calls {fake.CallsTo("chat.postMessage").Count}");
        var gaps = fake.CallsTo("chat.postMessage").GroupBy(c => (string?)c.Body["channel"])
            .SelectMany(g => g.OrderBy(c => c.At).Zip(g.OrderBy(c => c.At).Skip(1), (a, b) => (b.At - a.At).TotalMilliseconds)).ToList();
        Line($"fanout: gap between consecutive posts to one channel (ms) {Percentiles(gaps)}; min {F(gaps.DefaultIfEmpty(double.NaN).Min())}");
        await PrintChatPipelineAsync("fanout", fanCs);
        return Check(duplicates == 0, "no duplicate posts") + Check(lost == 0, "no lost posts");
    }

    /// <summary>Where a request's first chat message spent its time, from the database: creation to its outbox entry
    /// handled (the dispatcher queued the post), to the post's claim (a job worker took it), to the post recorded
    /// (milliseconds), and the job storage's counts by state.</summary>
    private static async Task PrintChatPipelineAsync(string label, string cs)
    {
        Task<List<double>> Column(string sql) => Pg.ColumnAsync<double>(cs, sql);
        Line($"{label}: created -> outbox handled (ms) " + Percentiles(await Column(
            "SELECT (o.handled_at - a.created_at) / 1000.0 FROM outbox o JOIN approvals a ON a.id = o.approval_id WHERE o.kind = 'Created' AND o.handled_at IS NOT NULL")));
        Line($"{label}: created -> post job queued (ms) " + Percentiles(await Column(
            "SELECT extract(epoch FROM j.createdat) * 1000 - a.created_at / 1000.0 FROM hangfire.job j JOIN approvals a ON j.arguments::text LIKE '%' || a.id || '%' " +
            "WHERE j.invocationdata::text LIKE '%PostAsync%'")));
        Line($"{label}: post job queued -> started (ms) " + Percentiles(await Column(
            "SELECT extract(epoch FROM min(s.createdat) - j.createdat) * 1000 FROM hangfire.job j JOIN hangfire.state s ON s.jobid = j.id " +
            "WHERE j.invocationdata::text LIKE '%PostAsync%' AND s.name = 'Processing' GROUP BY j.id, j.createdat")));
        Line($"{label}: created -> post claimed (ms) " + Percentiles(await Column(
            "SELECT (m.claimed_at - a.created_at) / 1000.0 FROM chat_messages m JOIN approvals a ON a.id = m.approval_id WHERE m.delivery_key = 'root'")));
        Line($"{label}: claimed -> posted (ms) " + Percentiles(await Column(
            "SELECT (m.posted_at - m.claimed_at) / 1000.0 FROM chat_messages m WHERE m.delivery_key = 'root' AND m.posted_at IS NOT NULL")));
        Line($"{label}: created -> posted (ms) " + Percentiles(await Column(
            "SELECT (m.posted_at - a.created_at) / 1000.0 FROM chat_messages m JOIN approvals a ON a.id = m.approval_id WHERE m.delivery_key = 'root' AND m.posted_at IS NOT NULL")));
        var jobs = await Pg.ColumnAsync<string>(cs, "SELECT coalesce(statename, '-') || '=' || count(*) FROM hangfire.job GROUP BY statename ORDER BY 1");
        Line($"{label}: jobs by state {string.Join(", ", jobs)}");
    }

    // ---- 7. memory ----------------------------------------------------------------------------------------------

    public static async Task<int> MemoryAsync(int pending, int waiters)
    {
        Load("memory");
        var (server, _, _) = await StartAsync("memory");
        await using var s = server;
        using var agent = server.Client(await server.CreateKeyAsync("bench agent", ["agent"]), waiters + 32);
        Line($"memory: idle after start-up RSS {F(server.RssMiB())} MiB");
        var ids = new string[pending];
        await RunAsync(pending, 16, async i => ids[i] = await CreateAsync(agent, TypicalBody));
        Line($"memory: {pending} pending requests RSS {F(server.RssMiB())} MiB");
        using var cts = new CancellationTokenSource();
        var parked = Enumerable.Range(0, waiters).Select(async i =>
        {
            try
            {
                using var response = await agent.GetAsync($"api/v1/approvals/{ids[i % pending]}/wait?timeout_seconds=30", cts.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }).ToList();
        await Task.Delay(5000);
        var rss = server.RssMiB();
        Line($"memory: {pending} pending and {waiters} waiting agents RSS {F(rss)} MiB");
        await cts.CancelAsync();
        await Task.WhenAll(parked);
        return Check(!server.HasExited, "server alive");
    }

    // ---- 8. kill -9 during intake -------------------------------------------------------------------------------

    public static async Task<int> Kill9Async(int seconds, int agents)
    {
        Load("kill9");
        await using var fake = await FakeSlackServer.StartAsync();
        var (pgServer, cs) = await Pg.NewDatabaseAsync("kill9");
        var settings = SlackSettings(fake, "0", ("*", "C0KILL"));
        var server = new ServerProcess(cs, settings);
        await server.StartAsync();
        var port = server.Port;
        var key = await server.CreateKeyAsync("bench agent", ["agent"]);
        using var agent = server.Client(key);
        var acked = new ConcurrentDictionary<string, DateTimeOffset>();
        var failed = new ConcurrentDictionary<string, int>();
        var wall = Stopwatch.StartNew();
        var intake = Enumerable.Range(0, agents).Select(async w =>
        {
            var n = 0;
            while (wall.Elapsed.TotalSeconds < seconds)
            {
                try
                {
                    using var response = await agent.PostAsJsonAsync("api/v1/approvals",
                        new { action_name = "kill9", agent_id = "kill-agent", timeout_seconds = 10 + (n++ % 10) });
                    if (response.StatusCode == HttpStatusCode.Created)
                    {
                        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
                        acked[body["id"]!.GetValue<string>()] = DateTimeOffset.Parse(body["expires_at"]!.GetValue<string>(), CultureInfo.InvariantCulture);
                    }
                    else
                    {
                        failed.AddOrUpdate(((int)response.StatusCode).ToString(CultureInfo.InvariantCulture), 1, (_, v) => v + 1);
                    }
                }
                catch (HttpRequestException e)
                {
                    failed.AddOrUpdate(e.HttpRequestError.ToString(), 1, (_, v) => v + 1);
                    await Task.Delay(50);
                }
            }
        }).ToList();
        await Task.Delay(TimeSpan.FromSeconds(seconds / 2.0));
        var before = acked.Count;
        server.Kill();
        Line($"kill9: SIGKILL after {before} acknowledged creates");
        await server.DisposeAsync();
        server = new ServerProcess(cs, settings, port);
        var restart = Stopwatch.StartNew();
        await server.StartAsync();
        Line($"kill9: restarted and ready in {F(restart.Elapsed.TotalSeconds)} s");
        await using var s = server;
        await Task.WhenAll(intake);
        Line($"kill9: {acked.Count} acknowledged (201), failed calls: {string.Join(", ", failed.Select(kv => $"{kv.Key}={kv.Value}"))}");

        var lastDeadline = acked.Values.Max();
        var until = lastDeadline + TimeSpan.FromSeconds(60);
        while (DateTimeOffset.UtcNow < until && await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM approvals WHERE status <> 'expired'") > 0)
        {
            await Task.Delay(1000);
        }
        var stored = new Dictionary<string, string>();
        await using (var c = new NpgsqlConnection(cs))
        {
            await c.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT id, status FROM approvals", c);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                stored[reader.GetString(0)] = reader.GetString(1);
            }
        }
        // Chat delivery drains a backlog after the restart: wait until every stored request's message shows its expiry.
        var drain = Stopwatch.StartNew();
        bool Settled(Dictionary<string, List<JsonObject>> r) => stored.Keys.All(id => r.TryGetValue(id, out var m) && m[0]["blocks"]!.ToJsonString().Contains("*Expired*", StringComparison.Ordinal));
        while (!Settled(RootMessages(fake, ["C0KILL"])) && drain.Elapsed < TimeSpan.FromSeconds(300))
        {
            await Task.Delay(1000);
        }
        await Task.Delay(3000); // a late duplicate would show up here
        Line($"kill9: chat settled {F(drain.Elapsed.TotalSeconds)} s after every request had expired");
        var missing = acked.Keys.Count(id => !stored.ContainsKey(id));
        var notExpired = acked.Keys.Count(id => stored.TryGetValue(id, out var st) && st != "expired");
        var roots = RootMessages(fake, ["C0KILL"]);
        var notPosted = stored.Keys.Count(id => !roots.ContainsKey(id));
        var duplicates = roots.Values.Sum(v => v.Count - 1);
        // The message as Slack shows it now (posted, then redrawn by chat.update) must say it expired.
        var notUpdated = stored.Keys.Count(id => !roots.TryGetValue(id, out var m) || !m[0]["blocks"]!.ToJsonString().Contains("*Expired*", StringComparison.Ordinal));
        var doubleExpired = await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM (SELECT approval_id FROM approval_events WHERE kind = 'expired' GROUP BY approval_id HAVING count(*) > 1) d");
        Line($"kill9: stored {stored.Count} (acknowledged {acked.Count}); missing {missing}; not expired {notExpired}; not posted {notPosted}; posted twice {duplicates}; message not showing the expiry {notUpdated}");
        // Effects committed before the SIGKILL and never dispatched are in the outbox (servers with one): none may be left.
        var unhandled = await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM pg_class WHERE relname = 'outbox' AND relkind = 'r'") == 0
            ? 0 : await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM outbox WHERE handled_at IS NULL");
        Line($"kill9: outbox entries not handled at the end {unhandled}");
        await PrintChatPipelineAsync("kill9", cs);
        _ = pgServer;
        return Check(missing == 0, "every acknowledged request is stored")
            + Check(notExpired == 0, "every acknowledged request expired")
            + Check(doubleExpired == 0, "each expired once")
            + Check(notPosted == 0, "every stored request was posted to chat")
            + Check(duplicates == 0, "nothing posted twice")
            + Check(notUpdated == 0, "every chat message shows the expiry")
            + Check(unhandled == 0, "every outbox entry handled");
    }

    // ---- 11. two instances ---------------------------------------------------------------------------------------

    public static async Task<int> TwinAsync(int agents, int expiring)
    {
        Load("twin");
        await using var fake = await FakeSlackServer.StartAsync();
        var (_, cs) = await Pg.NewDatabaseAsync("twin");
        var settings = SlackSettings(fake, "0", ("*", "C0TWIN"));
        await using var a = new ServerProcess(cs, settings);
        await a.StartAsync();
        await using var b = new ServerProcess(cs, settings);
        await b.StartAsync();
        var (same, wrongSame) = await WaitRoundAsync(a, a, agents);
        Line($"twin: waiter and decision on one instance (ms) {Percentiles(same)}");
        var (cross, wrongCross) = await WaitRoundAsync(a, b, agents);
        Line($"twin: waiter on A, decision on B (ms) {Percentiles(cross)}");

        using var agentA = a.Client(await a.CreateKeyAsync("twin agent", ["agent"]));
        using var agentB = b.Client(await b.CreateKeyAsync("twin agent b", ["agent"]));
        var deadlines = new DateTimeOffset[expiring];
        await RunAsync(expiring, 16, async i =>
        {
            using var response = await (i % 2 == 0 ? agentA : agentB).PostAsJsonAsync("api/v1/approvals",
                new { action_name = "twin_expiry", agent_id = "twin-agent", timeout_seconds = 5 + (i % 10) });
            deadlines[i] = DateTimeOffset.Parse((await response.Content.ReadFromJsonAsync<JsonObject>())!["expires_at"]!.GetValue<string>(), CultureInfo.InvariantCulture);
        });
        var until = deadlines.Max() + TimeSpan.FromSeconds(60);
        while (DateTimeOffset.UtcNow < until && await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM approvals WHERE status IN ('pending', 'info_requested')") > 0)
        {
            await Task.Delay(1000);
        }
        await Task.Delay(5000);
        var expired = await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM approvals WHERE action_name = 'twin_expiry' AND status = 'expired'");
        var expiredEvents = await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM approval_events e JOIN approvals a ON a.id = e.approval_id WHERE a.action_name = 'twin_expiry' AND e.kind = 'expired'");
        var total = await Pg.ScalarAsync<long>(cs, "SELECT count(*) FROM approvals");
        var roots = RootMessages(fake, ["C0TWIN"]);
        var duplicates = roots.Values.Sum(v => v.Count - 1);
        var lost = total - roots.Count;
        Line($"twin: {expired} of {expiring} expired, {expiredEvents} expiry events; {roots.Count} of {total} posted, {duplicates} posted twice; 429s {fake.RateLimitedCount}");
        return Check(wrongSame + wrongCross == 0, "every waiter got the decision")
            + Check(expired == expiring && expiredEvents == expiring, "each expiry happened exactly once")
            + Check(duplicates == 0 && lost == 0, "each chat post happened exactly once");
    }
}
