using AgentSentinel.Core.Routing;

namespace AgentSentinel.Core.Approvals;

public enum FollowUpKind
{
    Reminder,
    Escalation,
    /// <summary>An approver handed the request to a person or channel (never in a plan: it is recorded when it happens).</summary>
    Reassignment,
}

/// <summary>A reminder (number n of the schedule) or an escalation level (1-based), due at a time.</summary>
/// <summary>A reminder (number n of the schedule), an escalation level (1-based), due at a time, or a reassignment
/// (numbered by the request's version it made), with the target as a level (its channels and the person).</summary>
public sealed record FollowUp(FollowUpKind Kind, int Number, DateTimeOffset DueAt, EscalationLevel? Level = null)
{
    /// <summary>For a reassignment: where it went and who handed it.</summary>
    public Reassignment? Reassignment { get; init; }
}

/// <summary>When a request is chased: reminders from its route (or defaults by priority) and the route's escalation
/// levels, all measured from creation and only before the deadline.</summary>
public static class FollowUpPlan
{
    /// <summary>Critical requests are chased soon and often, low ones rarely.</summary>
    public static IReadOnlyList<int> DefaultReminderMinutes(Priority priority) => priority switch
    {
        Priority.Critical => [5, 15],
        Priority.High => [30],
        Priority.Medium => [120],
        _ => [720],
    };

    public static IReadOnlyList<FollowUp> For(ApprovalRequest request, RouteDefinition? route)
    {
        var plan = new List<FollowUp>();
        var minutes = route is { RemindersMinutes.Count: > 0 } ? route.RemindersMinutes : DefaultReminderMinutes(request.Priority);
        var n = 0;
        foreach (var m in minutes.Distinct().Order())
        {
            var at = request.CreatedAt.AddMinutes(m);
            if (at < request.ExpiresAt)
            {
                plan.Add(new FollowUp(FollowUpKind.Reminder, ++n, at));
            }
        }
        var level = 0;
        foreach (var e in (route?.Escalation ?? []).Where(e => e is not null).OrderBy(e => e.AfterMinutes))
        {
            level++;
            var at = request.CreatedAt.AddMinutes(e.AfterMinutes);
            if (at < request.ExpiresAt)
            {
                plan.Add(new FollowUp(FollowUpKind.Escalation, level, at, e));
            }
        }
        return [.. plan.OrderBy(f => f.DueAt).ThenBy(f => f.Kind)];
    }

    /// <summary>The next follow-up not yet done, given how far the request has got.</summary>
    public static FollowUp? Next(IReadOnlyList<FollowUp> plan, int remindersSent, int escalationLevel) =>
        plan.FirstOrDefault(f => f.Kind == FollowUpKind.Reminder ? f.Number > remindersSent : f.Number > escalationLevel);

    /// <summary>The escalation level <paramref name="number"/> of a request's plan, if the route still has it.</summary>
    public static FollowUp? Escalation(IReadOnlyList<FollowUp> plan, int number) =>
        plan.FirstOrDefault(f => f.Kind == FollowUpKind.Escalation && f.Number == number);

    /// <summary>A duration for people, to the nearest minute: "2 days 3 h", "1 h 5 min", "45 min", "less than a minute".</summary>
    public static string Describe(TimeSpan span)
    {
        var minutes = (long)Math.Round(span.TotalMinutes, MidpointRounding.AwayFromZero);
        if (minutes < 1)
        {
            return "less than a minute";
        }
        var (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
        return days > 0 ? (hours > 0 ? $"{days} {(days == 1 ? "day" : "days")} {hours} h" : $"{days} {(days == 1 ? "day" : "days")}")
            : hours > 0 ? (mins > 0 ? $"{hours} h {mins} min" : $"{hours} h")
            : $"{mins} min";
    }

    /// <summary>People an escalation level names (not <c>here</c>/<c>channel</c>), who may then decide.</summary>
    public static IEnumerable<string> EscalatedApprovers(EscalationLevel level) =>
        level.Mention.Where(m => m is not ("here" or "channel") && !string.IsNullOrWhiteSpace(m));
}
