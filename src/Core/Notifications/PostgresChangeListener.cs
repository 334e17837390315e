using AgentSentinel.Core.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace AgentSentinel.Core.Notifications;

/// <summary>Listens for change notifications from every server instance on the database and wakes local waiters.
/// Reconnects by itself; after a reconnect it wakes all waiters, since notifications may have been missed.</summary>
public sealed class PostgresChangeListener(PostgresDatabase database, ApprovalChangeHub hub, ConfigVersion config, ILogger<PostgresChangeListener> logger)
    : BackgroundService
{
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the first LISTEN is in place.</summary>
    public Task Listening => _listening.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var connected = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var builder = new NpgsqlConnectionStringBuilder(database.ConnectionString) { KeepAlive = 15, Pooling = false };
                await using var connection = new NpgsqlConnection(builder.ConnectionString);
                await connection.OpenAsync(stoppingToken);
                connection.Notification += (_, e) =>
                {
                    if (e.Channel == ConfigVersion.ChangeChannel)
                    {
                        config.Changed();
                    }
                    else if (Guid.TryParse(e.Payload, out var id))
                    {
                        hub.PublishNotified(id);
                    }
                    else if (e.Payload.StartsWith(PostgresDatabase.DeletedPrefix, StringComparison.Ordinal)
                        && Guid.TryParse(e.Payload.AsSpan(PostgresDatabase.DeletedPrefix.Length), out var deleted))
                    {
                        hub.Deleted([deleted]);
                    }
                };
                await using (var cmd = new NpgsqlCommand($"LISTEN {PostgresDatabase.ChangeChannel}; LISTEN {ConfigVersion.ChangeChannel}", connection))
                {
                    await cmd.ExecuteNonQueryAsync(stoppingToken);
                }
                if (connected)
                {
                    config.Changed();
                    hub.PublishAll();
                }
                connected = true;
                Log.ChangeListenerConnected(logger);
                _listening.TrySetResult();
                while (!stoppingToken.IsCancellationRequested)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is NpgsqlException or IOException or TimeoutException or InvalidOperationException)
            {
                Log.ChangeListenerFailed(logger, ex);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }
}
