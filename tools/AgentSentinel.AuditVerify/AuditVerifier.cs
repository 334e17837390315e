using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace AgentSentinel.AuditVerify;

/// <summary>What a verification found: whether the export is an unbroken chain, and if not, the first broken link.</summary>
public sealed record VerifyResult(bool Ok, int Events, long? BrokenSeq, string Message);

/// <summary>Checks an audit export (NDJSON or CSV, as <c>GET /api/v1/admin/audit</c> writes it) offline: every event's
/// hash is recomputed from its content and previous hash, every link must match the event before it, seqs must follow
/// each other without a gap, and a leading retention checkpoint is checked against the server's public key.</summary>
public static class AuditVerifier
{
    private sealed record Event(long Seq, long Id, string ApprovalId, string Kind, string At, string? Actor, string? ActorKeyId,
        string Surface, string? Details, string PrevHash, string Hash);

    private sealed record Checkpoint(long Seq, string Hash, string At, long DeletedRequests, long DeletedEvents, string KeyId, string Signature);

    public static VerifyResult Verify(TextReader reader, ECDsa? publicKey)
    {
        var first = reader.ReadLine();
        if (first is null)
        {
            return new VerifyResult(true, 0, null, "The export is empty: no events in the window.");
        }
        var csv = first.StartsWith("record,", StringComparison.Ordinal);
        var lineNumber = 1;
        var line = csv ? reader.ReadLine() : first;
        if (csv)
        {
            lineNumber++;
        }
        long? expectedSeq = null;
        string? expectedPrev = null;
        var notes = new StringBuilder();
        var events = 0;
        for (; line is not null; line = reader.ReadLine(), lineNumber++)
        {
            if (line.Length == 0)
            {
                continue;
            }
            object record;
            try
            {
                record = csv ? ParseCsv(line) : ParseJson(line);
            }
            catch (Exception error) when (error is FormatException or JsonException or InvalidOperationException or KeyNotFoundException)
            {
                return new VerifyResult(false, events, expectedSeq, $"Line {lineNumber} is not a valid audit record ({error.Message}); the chain cannot be followed past it.");
            }
            if (record is Checkpoint c)
            {
                if (events > 0)
                {
                    return new VerifyResult(false, events, c.Seq, $"Line {lineNumber}: a checkpoint may only start an export.");
                }
                if (publicKey is null)
                {
                    notes.Append(CultureInfo.InvariantCulture, $"The checkpoint at seq {c.Seq} was not checked: give the server's public key (--public-key) to check its signature. ");
                }
                else if (AuditChain.KeyId(publicKey) != c.KeyId
                    || !publicKey.VerifyData(Encoding.UTF8.GetBytes(AuditChain.CheckpointText(c.Seq, c.Hash, c.At, c.DeletedRequests, c.DeletedEvents)),
                        Convert.FromBase64String(c.Signature), HashAlgorithmName.SHA256))
                {
                    return new VerifyResult(false, 0, c.Seq, $"The checkpoint at seq {c.Seq} is not signed by the given key (key id {AuditChain.KeyId(publicKey)}, checkpoint names {c.KeyId}).");
                }
                else
                {
                    notes.Append(CultureInfo.InvariantCulture, $"The chain starts from the checkpoint at seq {c.Seq}, signed by key {c.KeyId} ({c.DeletedRequests} requests and {c.DeletedEvents} events deleted by retention). ");
                }
                expectedSeq = c.Seq + 1;
                expectedPrev = c.Hash;
                continue;
            }
            var e = (Event)record;
            var name = $"event seq {e.Seq} (id {e.Id}, {e.Kind} of approval {e.ApprovalId})";
            if (expectedSeq is null && e.Seq == 1)
            {
                expectedPrev = AuditChain.Genesis;
            }
            else if (expectedSeq is null)
            {
                notes.Append(CultureInfo.InvariantCulture, $"The export starts inside the chain at seq {e.Seq}; its first link is taken as given. ");
            }
            else if (e.Seq != expectedSeq)
            {
                return new VerifyResult(false, events, e.Seq, $"Broken at {name}: seq {expectedSeq} was expected; events are missing or out of order.");
            }
            if (expectedPrev is not null && e.PrevHash != expectedPrev)
            {
                return new VerifyResult(false, events, e.Seq, $"Broken at {name}: its previous hash does not match the hash of the event before it.");
            }
            var hash = AuditChain.EventHash(e.PrevHash, e.Seq, e.Id, e.ApprovalId, e.Kind, e.At, e.Actor, e.ActorKeyId, e.Surface, e.Details);
            if (hash != e.Hash)
            {
                return new VerifyResult(false, events, e.Seq, $"Broken at {name}: its content does not match its hash.");
            }
            events++;
            expectedSeq = e.Seq + 1;
            expectedPrev = e.Hash;
        }
        return new VerifyResult(true, events, null, $"{notes}All {events} events verify: every hash matches its content and every link the event before it.".Trim());
    }

    private static object ParseJson(string line)
    {
        using var doc = JsonDocument.Parse(line);
        var root = doc.RootElement;
        if (root.TryGetProperty("checkpoint", out var c))
        {
            return new Checkpoint(c.GetProperty("seq").GetInt64(), Text(c, "hash")!, Text(c, "at")!, c.GetProperty("deleted_requests").GetInt64(),
                c.GetProperty("deleted_events").GetInt64(), Text(c, "key_id")!, Text(c, "signature")!);
        }
        return new Event(root.GetProperty("seq").GetInt64(), root.GetProperty("id").GetInt64(), Text(root, "approval_id")!, Text(root, "kind")!,
            Text(root, "at")!, Text(root, "actor"), Text(root, "actor_key_id"), Text(root, "surface")!, Text(root, "details"),
            Text(root, "prev_hash")!, Text(root, "hash")!);
    }

    private static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v.GetString() : null;

    private static object ParseCsv(string line)
    {
        var f = SplitCsv(line);
        if (f.Count != 12)
        {
            throw new FormatException($"{f.Count} fields instead of 12");
        }
        long Num(string? s) => long.Parse(s ?? throw new FormatException("a number is missing"), NumberStyles.None, CultureInfo.InvariantCulture);
        if (f[0] == "checkpoint")
        {
            using var details = JsonDocument.Parse(f[9] ?? "{}");
            var d = details.RootElement;
            return new Checkpoint(Num(f[1]), f[11]!, f[5]!, d.GetProperty("deleted_requests").GetInt64(), d.GetProperty("deleted_events").GetInt64(),
                Text(d, "key_id")!, Text(d, "signature")!);
        }
        return new Event(Num(f[1]), Num(f[2]), f[3]!, f[4]!, f[5]!, f[6], f[7], f[8]!, f[9], f[10]!, f[11]!);
    }

    /// <summary>RFC 4180 fields of one line; an unquoted empty field is null, a quoted one is its text.</summary>
    private static List<string?> SplitCsv(string line)
    {
        var fields = new List<string?>();
        var i = 0;
        while (true)
        {
            if (i < line.Length && line[i] == '"')
            {
                var text = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= line.Length)
                    {
                        throw new FormatException("an unterminated quoted field");
                    }
                    if (line[i] == '"')
                    {
                        if (i + 1 < line.Length && line[i + 1] == '"')
                        {
                            text.Append('"');
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    text.Append(line[i++]);
                }
                fields.Add(text.ToString());
            }
            else
            {
                var end = line.IndexOf(',', i);
                var raw = end < 0 ? line[i..] : line[i..end];
                fields.Add(raw.Length == 0 ? null : raw);
                i = end < 0 ? line.Length : end;
            }
            if (i >= line.Length)
            {
                return fields;
            }
            if (line[i] != ',')
            {
                throw new FormatException("text after a quoted field");
            }
            i++;
        }
    }
}
