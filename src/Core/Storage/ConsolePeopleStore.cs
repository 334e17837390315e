using System.Security.Cryptography;
using System.Text;
using Dapper;

namespace AgentSentinel.Core.Storage;

/// <summary>A person who signed in to the console through the company identity provider, with the console scopes
/// (<c>approver</c>, <c>admin</c>) their provider roles gave them at their latest sign-in; none when the provider last
/// said they have neither role.</summary>
public sealed record ConsolePerson
{
    public required string Id { get; init; }
    public required string Issuer { get; init; }
    public required string Subject { get; init; }
    public required string Email { get; init; }
    public required string Name { get; init; }
    public required IReadOnlyList<string> Scopes { get; init; }
    public required DateTimeOffset FirstSignedInAt { get; init; }
    public required DateTimeOffset LastSignedInAt { get; init; }

    /// <summary>The person's id: stable for the provider's (issuer, subject) pair, whatever their email becomes, and
    /// never the form of an API key id. It is recorded as the key id of their decisions.</summary>
    public static string IdFor(string issuer, string subject) =>
        IdPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(issuer + "\n" + subject)))[..24];

    public const string IdPrefix = "oidc_";

    public static bool IsPersonId(string? keyId) => keyId?.StartsWith(IdPrefix, StringComparison.Ordinal) == true;
}

public interface IConsolePeopleStore
{
    /// <summary>Records a sign-in (or a refused one, with no scopes): inserts the person or updates their email, name,
    /// scopes and last sign-in.</summary>
    Task RecordSignInAsync(ConsolePerson person, CancellationToken ct);

    /// <summary>People with this email (case-insensitive) whose latest sign-in gave them a scope, most recent first.</summary>
    Task<IReadOnlyList<ConsolePerson>> FindByEmailAsync(string email, CancellationToken ct);

    Task<ConsolePerson?> GetAsync(string id, CancellationToken ct);
}

/// <summary>The people record on PostgreSQL and SQLite, with the same statements on both.</summary>
public sealed class ConsolePeopleStore(Database database) : IConsolePeopleStore
{
    private const string Columns = "id, issuer, subject, email, name, scopes, first_signed_in_at, last_signed_in_at";

    public async Task RecordSignInAsync(ConsolePerson person, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition($"""
            INSERT INTO console_people ({Columns})
            VALUES (@Id, @Issuer, @Subject, @Email, @Name, @scopes, @at, @at)
            ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, scopes = excluded.scopes,
                last_signed_in_at = excluded.last_signed_in_at
            """, new
        {
            person.Id,
            person.Issuer,
            person.Subject,
            person.Email,
            person.Name,
            scopes = string.Join(' ', person.Scopes),
            at = person.LastSignedInAt.ToUnixMicroseconds(),
        }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<ConsolePerson>> FindByEmailAsync(string email, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var rows = await connection.QueryAsync<PersonRow>(new CommandDefinition(
            $"SELECT {Columns} FROM console_people WHERE lower(email) = lower(@email) AND scopes <> '' ORDER BY last_signed_in_at DESC, id",
            new { email }, cancellationToken: ct));
        return [.. rows.Select(r => r.ToModel())];
    }

    public async Task<ConsolePerson?> GetAsync(string id, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<PersonRow>(new CommandDefinition(
            $"SELECT {Columns} FROM console_people WHERE id = @id", new { id }, cancellationToken: ct));
        return row?.ToModel();
    }

    private sealed class PersonRow
    {
        public string Id { get; set; } = "";
        public string Issuer { get; set; } = "";
        public string Subject { get; set; } = "";
        public string Email { get; set; } = "";
        public string Name { get; set; } = "";
        public string Scopes { get; set; } = "";
        public long FirstSignedInAt { get; set; }
        public long LastSignedInAt { get; set; }

        public ConsolePerson ToModel() => new()
        {
            Id = Id,
            Issuer = Issuer,
            Subject = Subject,
            Email = Email,
            Name = Name,
            Scopes = Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries),
            FirstSignedInAt = TimeConversions.FromUnixMicroseconds(FirstSignedInAt),
            LastSignedInAt = TimeConversions.FromUnixMicroseconds(LastSignedInAt),
        };
    }
}
