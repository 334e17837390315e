using System.Globalization;
using AgentSentinel.LoadBench;

// Load, latency, scale and fault runs against the real Api executable (a child process on a loopback port) and a
// PostgreSQL started for the run. Every scenario takes its sizes on the command line, so a smoke run is quick.
// Build first: dotnet build AgentSentinel.sln -c Release
// Usage: dotnet bench/AgentSentinel.LoadBench/bin/Release/net10.0/AgentSentinel.LoadBench.dll <scenario> [sizes...]
// Set AGENTSENTINEL_PG_DURABLE=1 to run PostgreSQL with its durable defaults instead of the test fixture's fast settings.
//   intake  [requests per level=2000] [levels=1,16,64]
//   poll    [clients=64] [seconds=15]
//   wait    [agents=1000]
//   expiry  [requests=10000] [spread seconds=60] [lead seconds: deadlines on a fixed schedule from this far after the start]
//   scale   [rows=1000000]  (AGENTSENTINEL_SCALE_KEEP=<dir> keeps the populated cluster there; AGENTSENTINEL_SCALE_PARALLEL
//           connections load it, 2 by default)
//   scale-measure           the scale measurements again on the cluster kept in AGENTSENTINEL_SCALE_KEEP, with the
//                           server at AGENTSENTINEL_API_DLL (or this build), which first runs its pending migrations
//   fanout  [requests=500] [channels=5]
//   memory  [pending=10000] [waiters=1000]
//   kill9   [seconds of intake=20] [agents=16]
//   twin    [agents=200] [expiring requests=500]
//   smoke   every scenario at small sizes
var scenario = args.Length > 0 ? args[0] : "smoke";
int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}, " +
    $"{File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim()}");
Console.WriteLine($"command: {scenario} {string.Join(' ', args.Skip(1))}");
Console.WriteLine($"postgresql: {(AgentSentinel.Testing.PostgresServer.Durable ? "durable (fsync, synchronous_commit, full_page_writes on; AGENTSENTINEL_PG_DURABLE=1)" : "fast test settings (fsync, synchronous_commit, full_page_writes off)")}");

var failures = scenario switch
{
    "intake" => await Scenarios.IntakeAsync(Arg(1, 2000), args.Length > 2 ? [.. args[2].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))] : [1, 16, 64]),
    "poll" => await Scenarios.PollAsync(Arg(1, 64), Arg(2, 15)),
    "wait" => await Scenarios.WaitAsync(Arg(1, 1000)),
    "expiry" => await Scenarios.ExpiryAsync(Arg(1, 10_000), Arg(2, 60), Arg(3, 0)),
    "scale" => await Scenarios.ScaleAsync(Arg(1, 1_000_000)),
    "scale-measure" => await Scenarios.ScaleMeasureAsync(),
    "fanout" => await Scenarios.FanOutAsync(Arg(1, 500), Arg(2, 5)),
    "memory" => await Scenarios.MemoryAsync(Arg(1, 10_000), Arg(2, 1000)),
    "kill9" => await Scenarios.Kill9Async(Arg(1, 20), Arg(2, 16)),
    "twin" => await Scenarios.TwinAsync(Arg(1, 200), Arg(2, 500)),
    "smoke" => await Scenarios.SmokeAsync(),
    _ => throw new ArgumentException($"unknown scenario '{scenario}'"),
};
Console.WriteLine(failures == 0 ? "result: all checks passed" : $"result: {failures} check(s) FAILED");
return failures == 0 ? 0 : 1;
