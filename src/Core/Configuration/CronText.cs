namespace AgentSentinel.Core.Configuration;

/// <summary>A start-up check of a Hangfire cron setting's shape, so a wrong one is named by its setting.</summary>
public static class CronText
{
    public static bool LooksValid(string? cron)
    {
        var fields = (cron ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length is 5 or 6
            && fields.All(f => f.All(c => char.IsAsciiLetterOrDigit(c) || c is '*' or '/' or ',' or '-' or '?' or '#' or 'L' or 'W'));
    }
}
