using System.Runtime.ExceptionServices;
using System.Text.Json.Nodes;
using AgentSentinel.Bot.Delivery;
using AgentSentinel.Bot.Slack;
using AgentSentinel.Bot.Teams;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Digest;
using AgentSentinel.Core.Storage;
using Hangfire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Bot.Digest;

/// <summary>
/// The weekly digest as Hangfire jobs: the recurring <see cref="RunAsync"/> posts the week that just ended to the
/// configured Slack and Teams channels. Each (week, surface, channel) is claimed in <c>digest_posts</c> before it is
/// sent, so a retried, repeated or concurrent job never posts a week twice: a claim held by a try in flight is left
/// alone, a try that failed releases it, and a Slack try that may have landed (lost answer) is looked for in the
/// channel before posting again. 429 reschedules after Retry-After; 5xx and timeouts retry with backoff; permanent
/// refusals are recorded as failed.
/// </summary>
public sealed class DigestJobs(
    DigestService digests,
    DigestStore store,
    ISlackApi slack,
    IBotConnector connector,
    IChatConversationStore conversations,
    ChannelPacer pacer,
    IBackgroundJobClient jobs,
    IOptionsMonitor<DigestOptions> options,
    IOptionsMonitor<SlackOptions> slackOptions,
    IOptionsMonitor<TeamsOptions> teamsOptions,
    IOptions<AgentSentinelOptions> product,
    TimeProvider time,
    ILogger<DigestJobs> logger)
{
    public const string RecurringJobId = "weekly-digest";

    /// <summary>How long a try may hold a claim before another may assume it died.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    private static readonly string SlackSurface = Surface.Slack.ToWire();
    private static readonly string TeamsSurface = Surface.Teams.ToWire();

    /// <summary>The recurring job: the last finished week in the digest's time zone.</summary>
    public Task RunAsync(CancellationToken ct) => PostWeekAsync(digests.CurrentWeek().Previous.ToString(), ct);

    [AutomaticRetry(Attempts = 10, DelaysInSeconds = [5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600])]
    public async Task PostWeekAsync(string week, CancellationToken ct)
    {
        if (!IsoWeek.TryParse(week, out var isoWeek))
        {
            throw new ArgumentException($"'{week}' is not an ISO week.", nameof(week));
        }
        var slackChannel = slackOptions.CurrentValue.Enabled ? options.CurrentValue.SlackChannel : null;
        var teamsChannel = teamsOptions.CurrentValue.Enabled ? options.CurrentValue.TeamsChannel : null;
        if (slackChannel is null && teamsChannel is null)
        {
            DigestLog.NoChannel(logger, week);
            return;
        }
        var digest = await digests.ComputeAsync(isoWeek, ct);
        if (!digest.Complete)
        {
            DigestLog.NotFinished(logger, week);
            return;
        }
        ExceptionDispatchInfo? retry = null;
        if (slackChannel is not null)
        {
            retry = await TryAsync(() => PostToSlackAsync(digest, slackChannel, ct), week, SlackSurface, slackChannel);
        }
        if (teamsChannel is not null)
        {
            retry ??= await TryAsync(() => PostToTeamsAsync(digest, teamsChannel, ct), week, TeamsSurface, teamsChannel);
        }
        // Thrown after every channel had its try, so that one failing channel does not hold back the other.
        retry?.Throw();
    }

    private async Task<ExceptionDispatchInfo?> TryAsync(Func<Task> post, string week, string surface, string channel)
    {
        try
        {
            await post();
            return null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or SlackApiException or BotConnectorException or InvalidOperationException)
        {
            DigestLog.Failed(logger, e, week, surface, channel);
            return ExceptionDispatchInfo.Capture(e);
        }
    }

    private async Task<DigestPost?> ClaimAsync(string week, string surface, string channel, CancellationToken ct)
    {
        var (post, acquired, _) = await store.ClaimPostAsync(week, surface, channel, time.GetUtcNow(), Lease, ct);
        if (!acquired)
        {
            DigestLog.AlreadyHandled(logger, week, surface, channel, post.State == DigestPostState.Claimed ? "being posted" : post.State.ToString().ToLowerInvariant());
            return null;
        }
        return post;
    }

    private async Task PostToSlackAsync(WeeklyDigest digest, string channel, CancellationToken ct)
    {
        if (await ClaimAsync(digest.Week, SlackSurface, channel, ct) is not { } post)
        {
            return;
        }
        await SendAsync(post, async () =>
        {
            if (post.Attempts > 1)
            {
                // An earlier try may have reached Slack with its answer lost: adopt its message rather than post again.
                // When Slack will not search (not_in_channel, missing_scope, rate limited), post anyway.
                string? found = null;
                try
                {
                    found = await slack.FindMessageByMetadataAsync(channel, DigestSlackMessage.MetadataEventType,
                        new Dictionary<string, string> { ["week"] = digest.Week }, digest.To, ct);
                }
                catch (SlackApiException e)
                {
                    DigestLog.LookupUnavailable(logger, digest.Week, channel, e.Error);
                }
                if (found is not null)
                {
                    DigestLog.Adopted(logger, digest.Week, channel, found);
                    return found;
                }
            }
            using (await pacer.WaitTurnAsync(Surface.Slack, channel, TimeSpan.FromSeconds(slackOptions.CurrentValue.MinSecondsBetweenPostsPerChannel), ct))
            {
                return await slack.PostMessageAsync(DigestSlackMessage.Build(digest, channel, product.Value.PublicBaseUrl), ct);
            }
        }, ct);
    }

    private async Task PostToTeamsAsync(WeeklyDigest digest, string channel, CancellationToken ct)
    {
        if (await ClaimAsync(digest.Week, TeamsSurface, channel, ct) is not { } post)
        {
            return;
        }
        await SendAsync(post, async () =>
        {
            var target = await conversations.FindByChannelAsync(Surface.Teams, channel, ct) ?? await conversations.LatestTeamAsync(Surface.Teams, ct)
                ?? throw new InvalidOperationException($"No Teams installation is known for channel {channel}: add the bot to the team.");
            var activity = TeamsTransport.CardActivity(DigestTeamsCard.Build(digest, product.Value.PublicBaseUrl));
            activity["summary"] = $"Weekly approvals digest {digest.Week}";
            if (target.Kind != "channel" && target.ConversationId == channel)
            {
                return await connector.SendAsync(target.ServiceUrl, target.ConversationId, activity, null, ct);
            }
            return (await connector.CreateChannelConversationAsync(target.ServiceUrl, channel, target.TenantId, activity, ct)).ActivityId;
        }, ct);
    }

    /// <summary>Sends a claimed post and records the outcome: posted; rate-limited (claim released, the week
    /// rescheduled after Retry-After); refused for good (failed); or anything else (claim released, thrown to retry).</summary>
    private async Task SendAsync(DigestPost post, Func<Task<string>> send, CancellationToken ct)
    {
        try
        {
            var messageId = await send();
            await store.MarkPostedAsync(post, messageId, time.GetUtcNow(), ct);
            DigestLog.Posted(logger, post.Week, post.Surface, post.Channel, messageId);
        }
        catch (Exception e) when (e is SlackRateLimitedException or BotConnectorRateLimitedException)
        {
            var retryAfter = (e as SlackRateLimitedException)?.RetryAfter ?? ((BotConnectorRateLimitedException)e).RetryAfter;
            await store.RecordErrorAsync(post, e.Message, permanent: false, time.GetUtcNow(), CancellationToken.None);
            DigestLog.RateLimited(logger, post.Surface, post.Week, post.Channel, retryAfter);
            var week = post.Week;
            jobs.Schedule<DigestJobs>(j => j.PostWeekAsync(week, CancellationToken.None), retryAfter);
        }
        catch (Exception e) when (e is SlackApiException { IsPermanent: true } or BotConnectorException { IsPermanent: true })
        {
            await store.RecordErrorAsync(post, e.Message, permanent: true, time.GetUtcNow(), CancellationToken.None);
            DigestLog.Refused(logger, post.Surface, post.Week, post.Channel, e.Message);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or SlackApiException or BotConnectorException or InvalidOperationException)
        {
            await store.RecordErrorAsync(post, e.Message, permanent: false, time.GetUtcNow(), CancellationToken.None);
            throw;
        }
    }
}
