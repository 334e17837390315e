using System.Data.Common;
using AgentSentinel.Core.Configuration;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace AgentSentinel.Core.Storage;

/// <summary>The one place that knows which database is behind the store: connections, and the few
/// statements whose text differs between PostgreSQL and SQLite.</summary>
public abstract class Database : IAsyncDisposable
{
    // Every store maps snake_case columns onto its row classes, and every store reaches the database through here.
    static Database() => Dapper.DefaultTypeMap.MatchNamesWithUnderscores = true;

    public abstract StorageProvider Provider { get; }

    public abstract ValueTask<DbConnection> OpenAsync(CancellationToken ct);

    /// <summary>Starts a write transaction. On SQLite it takes the write lock at once, so two writers
    /// queue instead of deadlocking on a lock upgrade.</summary>
    public virtual async ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken ct) =>
        await connection.BeginTransactionAsync(ct);

    /// <summary>SQL run inside a transition's transaction to tell other server instances that a request changed,
    /// with an <c>@id</c> parameter; null where there are no other instances to tell.</summary>
    public abstract string? NotifySql { get; }

    /// <summary>Appended to a <c>SELECT ... LIMIT</c> that picks rows to claim, so that concurrent claimers skip each
    /// other's rows instead of waiting for them; empty where the write transaction already excludes other writers.</summary>
    public abstract string SkipLockedClause { get; }

    /// <summary>SQL run first in a transition's write transaction to lock the request's row (<c>@id</c>) until commit;
    /// null where <see cref="BeginWriteAsync"/> already holds a lock that covers it.</summary>
    public abstract string? LockApprovalSql { get; }

    /// <summary>SQL run first in a write transaction that appends to the audit chain, so one writer at a time does;
    /// null where <see cref="BeginWriteAsync"/> already holds a lock that covers it.</summary>
    public virtual string? AuditChainLockSql => null;

    public abstract bool IsUniqueViolation(Exception ex);

    /// <summary>True when the error means the database could not be reached or is restarting.</summary>
    public abstract bool IsUnavailable(Exception ex);

    /// <summary>Takes a lock that serializes migrations across server instances; released with the connection.</summary>
    public abstract Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken ct);

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    public static Database Create(StorageOptions options) => options.Provider switch
    {
        StorageProvider.Postgres => new PostgresDatabase(string.IsNullOrWhiteSpace(options.ConnectionString)
            ? throw new InvalidOperationException("AgentSentinel:Storage:ConnectionString is required for PostgreSQL.")
            : options.ConnectionString),
        _ => new SqliteDatabase(string.IsNullOrWhiteSpace(options.ConnectionString) ? StorageOptions.DefaultSqliteConnectionString : options.ConnectionString),
    };
}

public sealed class PostgresDatabase : Database
{
    public const string ChangeChannel = "agentsentinel_approval_changed";

    private readonly NpgsqlDataSource _dataSource;

    public PostgresDatabase(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!builder.ContainsKey("Timeout"))
        {
            builder.Timeout = 5;
        }
        ConnectionString = builder.ConnectionString;
        // The store's statements are few and fixed: prepared on each connection once used a few times, so a create or a
        // poll skips parsing and planning (unless the connection string says otherwise).
        if (!connectionString.Contains("Auto Prepare", StringComparison.OrdinalIgnoreCase) && !connectionString.Contains("AutoPrepare", StringComparison.OrdinalIgnoreCase))
        {
            builder.MaxAutoPrepare = 64;
        }
        // The store leaves no session state on a pooled connection (its locks are transaction-scoped, nothing LISTENs,
        // SETs or creates temporary tables on them), so a connection going back to the pool is not reset: the reset is
        // prepended to the next statement and costs PostgreSQL more than a poll's read itself.
        if (!connectionString.Contains("Reset On Close", StringComparison.OrdinalIgnoreCase) && !connectionString.Contains("NoResetOnClose", StringComparison.OrdinalIgnoreCase))
        {
            builder.NoResetOnClose = true;
        }
        _dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
    }

    public string ConnectionString { get; }

    public NpgsqlDataSource DataSource => _dataSource;

    public override StorageProvider Provider => StorageProvider.Postgres;

    public override async ValueTask<DbConnection> OpenAsync(CancellationToken ct) => await _dataSource.OpenConnectionAsync(ct);

    public override string NotifySql => $"SELECT pg_notify('{ChangeChannel}', @id)";

    /// <summary>Prefix of a change notification's payload saying the request was deleted (data retention), not changed.</summary>
    public const string DeletedPrefix = "deleted:";

    public override string SkipLockedClause => " FOR UPDATE SKIP LOCKED";

    // The conditional UPDATE alone would judge its deadline with an instant taken before it waited for the row.
    public override string LockApprovalSql => "SELECT 1 FROM approvals WHERE id = @id FOR UPDATE";

    // Transaction-scoped: released at commit, so the chain's tail read under it is still the tail when the rows commit.
    public override string AuditChainLockSql => "SELECT pg_advisory_xact_lock(7413290453)";

    public override bool IsUniqueViolation(Exception ex) => ex is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation };

    public override bool IsUnavailable(Exception ex) => ex switch
    {
        PostgresException pg => pg.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown
            or PostgresErrorCodes.CannotConnectNow or PostgresErrorCodes.TooManyConnections,
        NpgsqlException npg => npg.IsTransient || npg.InnerException is System.Net.Sockets.SocketException or IOException or TimeoutException,
        _ => false,
    };

    public override async Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken ct)
    {
        await using var cmd = connection.CreateCommand();
        cmd.Transaction = transaction;
        // A transaction-scoped advisory lock: two instances starting together migrate one after the other.
        cmd.CommandText = "SELECT pg_advisory_xact_lock(7413290451)";
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public override async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        await base.DisposeAsync();
    }
}

public sealed class SqliteDatabase : Database
{
    private readonly string _connectionString;

    public SqliteDatabase(string connectionString)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString)
        {
            // Writers wait for the lock (up to this many seconds) instead of failing with SQLITE_BUSY.
            DefaultTimeout = 30,
            Pooling = true,
        };
        if (builder.Mode == SqliteOpenMode.ReadWriteCreate && !string.IsNullOrEmpty(builder.DataSource) && builder.DataSource != ":memory:")
        {
            var file = Path.GetFullPath(builder.DataSource);
            var dir = Path.GetDirectoryName(file);
            if (!string.IsNullOrEmpty(dir))
            {
                Directory.CreateDirectory(dir);
            }
            CreatePrivately(file);
        }
        _connectionString = builder.ConnectionString;
        FilePath = builder.DataSource;
    }

    public string FilePath { get; }

    /// <summary>Creates a new database file readable and writable by this user only (0600), before SQLite would create
    /// it with the process umask (often 0644). An empty file is an empty database, and SQLite gives its <c>-wal</c> and
    /// <c>-shm</c> files the database file's permissions. An existing file is left as it is.</summary>
    private static void CreatePrivately(string file)
    {
        if (OperatingSystem.IsWindows() || File.Exists(file))
        {
            return;
        }
        try
        {
            using var _ = new FileStream(file, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        catch (IOException) when (File.Exists(file))
        {
            // Created at the same moment by another process; SQLite opens it as it is.
        }
    }

    public override StorageProvider Provider => StorageProvider.Sqlite;

    public override async ValueTask<DbConnection> OpenAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(ct);
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;";
        await cmd.ExecuteNonQueryAsync(ct);
        return connection;
    }

    public override ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken ct) =>
        // deferred: false issues BEGIN IMMEDIATE (Microsoft.Data.Sqlite has no async form; SQLite is in-process).
        ValueTask.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    public override string? NotifySql => null;

    // BEGIN IMMEDIATE: one writer at a time.
    public override string SkipLockedClause => "";

    // BEGIN IMMEDIATE has taken the database's only write lock.
    public override string? LockApprovalSql => null;

    // SQLITE_CONSTRAINT (19) with the extended code SQLITE_CONSTRAINT_UNIQUE (2067) or PRIMARYKEY (1555).
    public override bool IsUniqueViolation(Exception ex) => ex is SqliteException { SqliteExtendedErrorCode: 2067 or 1555 };

    // SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_CANTOPEN (14).
    public override bool IsUnavailable(Exception ex) => ex is SqliteException { SqliteErrorCode: 5 or 6 or 14 };

    public override Task LockForMigrationAsync(DbConnection connection, DbTransaction transaction, CancellationToken ct) =>
        Task.CompletedTask; // BEGIN IMMEDIATE already holds the database's only write lock.
}
