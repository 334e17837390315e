
namespace AgentSentinel.Core.Storage;

/// <summary>The SQL every store shares about approvals: their columns, the insert, and the two definitions the whole
/// product reads the same way: a request is <em>open</em> while it is pending or waiting for information and its
/// deadline has not passed, and an open request <em>past its deadline reads as expired</em> even before the expiry job
/// has recorded it. Each takes an <c>@now</c> parameter (microseconds).</summary>
internal static class ApprovalSql
{
    /// <summary>The statuses a request can still be decided from, as an SQL list.</summary>
    public const string OpenStatuses = "('pending', 'info_requested')";

    /// <summary>Open and before its deadline at <c>@now</c>.</summary>
    public const string IsOpen = $"status IN {OpenStatuses} AND expires_at > @now";

    /// <summary>Open in the table but past its deadline at <c>@now</c>: the expiry job has not recorded it yet.</summary>
    public const string IsOverdue = $"status IN {OpenStatuses} AND expires_at <= @now";

    /// <summary>Expired at <c>@now</c>: recorded as expired, or open and past the deadline.</summary>
    public const string ReadsExpired = $"(status = 'expired' OR ({IsOverdue}))";

public const string Columns = """
    id, action_name, action_description, agent_id, run_id, task_id, mission_id, estimated_cost, risk_level, priority,
    action_inputs, context, callback_url, created_at, expires_at, status, decided_at, decided_by_email,
    decided_by_user_id, decided_via, decision_notes, info_request_message, info_response, requester_key_id,
    requester_email, idempotency_key, request_hash, route_name, approvers, version, updated_at, reminders_sent, escalation_level, follow_up_at,
    decided_by_key_id, requester_key_name, route_plan, grant_id, receipt, decided_on_behalf_of, votes, reassigned_to
    """;

private const string InsertApprovalValues = """
    @Id, @ActionName, @ActionDescription, @AgentId, @RunId, @TaskId, @MissionId, @EstimatedCostValue, @RiskLevel,
            @Priority, @ActionInputs, @Context, @CallbackUrl, @CreatedAt, @ExpiresAt, @Status, @DecidedAt,
            @DecidedByEmail, @DecidedByUserId, @DecidedVia, @DecisionNotes, @InfoRequestMessage, @InfoResponse,
            @RequesterKeyId, @RequesterEmail, @IdempotencyKey, @RequestHash, @RouteName, @Approvers, @Version, @UpdatedAt, @RemindersSent, @EscalationLevel, @FollowUpAt,
            @DecidedByKeyId, @RequesterKeyName, @RoutePlan, @GrantId, @Receipt, @DecidedOnBehalfOf, @Votes, @ReassignedTo
    """;

public const string InsertApprovalSql = $"""
    INSERT INTO approvals ({Columns})
    VALUES ({InsertApprovalValues})
    ON CONFLICT (requester_key_id, idempotency_key) DO NOTHING
    """;

/// <summary>The stored version of keys and settings (see <see cref="ConfigVersion"/>).</summary>
public const string StoredConfigVersion = "(SELECT version FROM config_version WHERE id = 1)";

/// <summary>The insert of a create: nothing is inserted when <c>@ConfigVersion</c> is given and the stored version of
/// keys and settings is no longer that one (the request was checked against copies that have changed since).</summary>
public const string InsertApprovalAtConfigVersionSql = $"""
    INSERT INTO approvals ({Columns})
    SELECT {InsertApprovalValues}
    WHERE @ConfigVersion IS NULL OR @ConfigVersion = {StoredConfigVersion}
    ON CONFLICT (requester_key_id, idempotency_key) DO NOTHING
    """;

public const string SelectByIdempotencySql = $"""
    SELECT {Columns} FROM approvals WHERE requester_key_id = @requester AND idempotency_key = @key
    """;

/// <summary>Ids are stored as lowercase text: the same on both providers, and time-ordered for UUID v7.</summary>
public static string IdText(Guid id) => id.ToString("D");
}
