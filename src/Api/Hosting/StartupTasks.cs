using AgentSentinel.Api.Callbacks;
using AgentSentinel.Bot.Digest;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Audit;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Digest;
using AgentSentinel.Core.Jobs;
using AgentSentinel.Core.Storage;
using Hangfire;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Hosting;

/// <summary>Runs before the job server and the HTTP server start: migrations, the first admin key, the receipt key and the
/// recurring sweeps (expiry, follow-ups, callbacks; one whose lock a killed process left behind is registered later,
/// <see cref="PendingRecurringJobs"/>). Recovery of what a stopped server left undone runs after them, in
/// <see cref="StartupRecovery"/>, so a restart after a crash is ready to serve at once, however large the backlog.</summary>
public sealed class StartupTasks(
    MigrationRunner migrations,
    IApiKeyStore keys,
    ISettingsStore settings,
    IRecurringJobManager recurring,
    PendingRecurringJobs pendingJobs,
    IOptions<AgentSentinelOptions> options,
    IOptions<DigestOptions> digest,
    IOptions<RetentionOptions> retention,
    Core.Receipts.ReceiptKeyring receiptKeys,
    TimeProvider time,
    ILogger<StartupTasks> logger) : IHostedService
{
    private const string InitialKeyMarker = "initial_admin_key";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await migrations.MigrateAsync(cancellationToken);
        await EnsureAdminKeyAsync(cancellationToken);
        // The receipt signing key exists (or the configured one is recorded) before the first receipt or JWKS read.
        await receiptKeys.CurrentAsync(cancellationToken);
        Register(ExpiryJobs.SweepJobId, () => recurring.AddOrUpdate<ExpiryJobs>(ExpiryJobs.SweepJobId, j => j.SweepAsync(CancellationToken.None), Cron.Minutely()));
        Register(FollowUpJobs.SweepJobId, () => recurring.AddOrUpdate<FollowUpJobs>(FollowUpJobs.SweepJobId, j => j.SweepAsync(CancellationToken.None), Cron.Minutely()));
        Register(CallbackJobs.SweepJobId, () => recurring.AddOrUpdate<CallbackJobs>(CallbackJobs.SweepJobId, j => j.SweepAsync(CancellationToken.None), Cron.Minutely()));
        Register(AuditJobs.SealJobId, () => recurring.AddOrUpdate<AuditJobs>(AuditJobs.SealJobId, j => j.SealAsync(CancellationToken.None), Cron.Minutely()));
        Register(StatsJobs.FoldJobId, () => recurring.AddOrUpdate<StatsJobs>(StatsJobs.FoldJobId, j => j.FoldAsync(CancellationToken.None), Cron.Minutely()));
        if (retention.Value.DecidedDays is null)
        {
            Register(RetentionService.RecurringJobId, () => recurring.RemoveIfExists(RetentionService.RecurringJobId));
        }
        else
        {
            Register(RetentionService.RecurringJobId, () => recurring.AddOrUpdate<AuditJobs>(RetentionService.RecurringJobId, j => j.RetainAsync(CancellationToken.None), retention.Value.Cron));
        }
        AddDigestJob();
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void Register(string jobId, Action register) => pendingJobs.Register(jobId, register);

    /// <summary>The weekly digest on its cron, read in its time zone; a cron Hangfire cannot parse stops start-up.</summary>
    private void AddDigestJob()
    {
        var settings = digest.Value;
        try
        {
            Register(DigestJobs.RecurringJobId, () => recurring.AddOrUpdate<DigestJobs>(DigestJobs.RecurringJobId, j => j.RunAsync(CancellationToken.None), settings.Cron,
                new RecurringJobOptions { TimeZone = settings.ResolveTimeZone() }));
        }
        catch (ArgumentException e)
        {
            throw new OptionsValidationException(DigestOptions.SectionName, typeof(DigestOptions),
                [$"{DigestOptions.SectionName}:Cron '{settings.Cron}' is not a valid cron expression: {e.Message}"]);
        }
    }

    /// <summary>With no bootstrap key configured and no key stored, creates an admin key and writes it to a new file
    /// only this user can read; the log names the file, never the key. The file is created exclusively, mode 0600 from
    /// its first instant: an existing file or a symbolic link at the path (which could point anywhere) stops start-up
    /// with a message naming the setting, and nothing is stored.</summary>
    private async Task EnsureAdminKeyAsync(CancellationToken ct)
    {
        var auth = options.Value.Auth;
        var path = Path.GetFullPath(auth.InitialAdminKeyFile);
        if (!string.IsNullOrEmpty(auth.BootstrapAdminKey) || await keys.AnyAsync(ct))
        {
            if (File.Exists(path))
            {
                ApiLog.InitialAdminKeyExists(logger, path);
            }
            return;
        }
        var stream = CreateKeyFile(path);
        var written = false;
        try
        {
            var now = time.GetUtcNow();
            // Only one instance of a cluster starting at once creates the key.
            if (!await settings.TryInsertAsync(InitialKeyMarker, "{}", "system", now, ct))
            {
                return;
            }
            var key = ApiKeyFactory.NewKey();
            await keys.CreateAsync(new ApiKeyRecord
            {
                Id = Guid.CreateVersion7(now).ToString(),
                Name = "initial admin",
                Prefix = ApiKeyFactory.DisplayPrefix(key),
                KeyHash = ApiKeyFactory.Hash(key),
                Scopes = [Scopes.Admin],
                Email = auth.BootstrapAdminEmail,
                CreatedAt = now.TruncateToMicroseconds(),
                CreatedBy = "system",
            }, ct);
            await using (var writer = new StreamWriter(stream, leaveOpen: true))
            {
                await writer.WriteLineAsync(key);
            }
            await stream.FlushAsync(ct);
            written = true;
        }
        finally
        {
            await stream.DisposeAsync();
            if (!written)
            {
                File.Delete(path);
            }
        }
        ApiLog.InitialAdminKeyWritten(logger, path);
    }

    /// <summary>Creates the key file (and a missing folder, 0700) exclusively: <see cref="FileMode.CreateNew"/> is
    /// <c>O_CREAT | O_EXCL</c>, which never follows a symbolic link and never opens an existing file.</summary>
    private static FileStream CreateKeyFile(string path)
    {
        const string setting = $"{AgentSentinelOptions.SectionName}:Auth:InitialAdminKeyFile";
        var directory = Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        try
        {
            return new FileStream(path, fileOptions);
        }
        catch (IOException e) when (File.Exists(path) || new FileInfo(path).LinkTarget is not null)
        {
            throw new OptionsValidationException(AgentSentinelOptions.SectionName, typeof(AgentSentinelOptions),
            [
                $"{setting} names '{path}', which already exists{(new FileInfo(path).LinkTarget is { } target ? $" as a symbolic link to '{target}'" : "")}. " +
                $"No API key is stored yet, so a new first admin key must be written there: remove the old file (a key from an earlier database is no use) or set {setting} to a new path. ({e.Message})",
            ]);
        }
    }
}
