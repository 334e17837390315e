using System.Text;
using System.Text.Json;
using AgentSentinel.Api.Auth;
using AgentSentinel.Api.Infrastructure;
using AgentSentinel.Core.Audit;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentSentinel.Api.Apis;

/// <summary>The audit export for auditors: every event of a window with its place in the chain and its hashes,
/// streamed as NDJSON or CSV, checkable offline with <c>tools/AgentSentinel.AuditVerify</c>.</summary>
public static class AuditApi
{
    private static readonly string[] Formats = ["ndjson", "csv"];

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never,
    };

    /// <summary>The CSV columns; a checkpoint row carries its counts, key id and signature as JSON in <c>details</c>.</summary>
    public const string CsvHeader = "record,seq,id,approval_id,kind,at,actor,actor_key_id,surface,details,prev_hash,hash";

    public static RouteGroupBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/api/v1/admin/audit").WithTags("Administration").RequireAuthorization(ApiPolicies.Admin);
        admin.MapGet("", ExportAsync).WithName("ExportAudit")
            .WithSummary("Stream the audit chain's events of a window (from, to; ISO-8601) as NDJSON or CSV, with their hashes");
        return admin;
    }

    public static async Task<Results<EmptyHttpResult, ProblemHttpResult>> ExportAsync(HttpContext http, AuditStore audit, CancellationToken ct)
    {
        var q = http.Request.Query;
        // No "to": everything up to the chain's end (an event stamped this very microsecond included).
        if (!ApprovalsApi.TryTimestamp(q["to"].ToString(), DateTimeOffset.MaxValue, out var to) || !ApprovalsApi.TryTimestamp(q["from"].ToString(), DateTimeOffset.UnixEpoch, out var from))
        {
            return Problems.BadRequest("from and to must be ISO-8601 timestamps, e.g. 2026-11-25T00:00:00Z.", "from");
        }
        if (from > to)
        {
            return Problems.BadRequest("from must not be after to.", "from");
        }
        var format = q["format"].ToString() is { Length: > 0 } f ? f : "ndjson";
        if (!Formats.Contains(format, StringComparer.Ordinal))
        {
            return Problems.BadRequest("format must be ndjson or csv.", "format");
        }
        // Everything committed so far takes its place in the chain before it is read.
        await audit.SealAsync(ct);

        var csv = format == "csv";
        http.Response.ContentType = csv ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8";
        http.Response.Headers.ContentDisposition = $"attachment; filename=\"agentsentinel-audit.{format}\"";
        http.Response.Headers.CacheControl = "no-store";
        await using var writer = new StreamWriter(http.Response.Body, new UTF8Encoding(false), bufferSize: 16 * 1024);
        if (csv)
        {
            await writer.WriteAsync(CsvHeader + "\n");
        }
        var count = 0;
        await foreach (var record in audit.ReadAsync(from, to, ct))
        {
            await writer.WriteAsync((csv ? CsvLine(record) : JsonLine(record)) + "\n");
            if (++count % 200 == 0)
            {
                await writer.FlushAsync(ct);
            }
        }
        await writer.FlushAsync(ct);
        return TypedResults.Empty;
    }

    private static string JsonLine(object record) => record switch
    {
        AuditCheckpoint c => JsonSerializer.Serialize(new { checkpoint = c }, Json),
        _ => JsonSerializer.Serialize((AuditEventRecord)record, Json),
    };

    private static string CsvLine(object record) => record switch
    {
        AuditCheckpoint c => Csv("checkpoint", Num(c.Seq), null, null, null, c.At, null, null, null,
            JsonSerializer.Serialize(new { c.DeletedRequests, c.DeletedEvents, c.KeyId, c.Signature }, Json), null, c.Hash),
        AuditEventRecord e => Csv("event", Num(e.Seq), Num(e.Id), e.ApprovalId, e.Kind, e.At, e.Actor, e.ActorKeyId, e.Surface, e.Details, e.PrevHash, e.Hash),
        _ => throw new ArgumentOutOfRangeException(nameof(record)),
    };

    private static string Num(long n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>RFC 4180: a value is always quoted (quotes doubled), a null is an empty unquoted field, so an empty
    /// text and a missing one stay apart.</summary>
    private static string Csv(params string?[] fields) =>
        string.Join(',', fields.Select(f => f is null ? "" : "\"" + f.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""));
}
