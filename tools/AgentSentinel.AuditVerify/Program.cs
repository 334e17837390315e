using System.Security.Cryptography;
using AgentSentinel.AuditVerify;

// agentsentinel-audit-verify <export.ndjson|export.csv|-> [--public-key server-public.pem]
// Exit code 0: the chain verifies; 1: a link is broken (the message names the first broken event); 2: usage.
string? file = null;
string? keyFile = null;
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--public-key" && i + 1 < args.Length)
    {
        keyFile = args[++i];
    }
    else if (file is null && !args[i].StartsWith("--", StringComparison.Ordinal))
    {
        file = args[i];
    }
    else
    {
        file = null;
        break;
    }
}
if (file is null)
{
    Console.Error.WriteLine("Usage: agentsentinel-audit-verify <export.ndjson|export.csv|-> [--public-key server-public.pem]");
    return 2;
}
using var key = keyFile is null ? null : ECDsa.Create();
if (key is not null && keyFile is not null)
{
    key.ImportFromPem(File.ReadAllText(keyFile));
}
using var reader = file == "-" ? Console.In : new StreamReader(file);
var result = AuditVerifier.Verify(reader, key);
(result.Ok ? Console.Out : Console.Error).WriteLine(result.Message);
return result.Ok ? 0 : 1;
