using System.Reflection;
using System.Xml.Linq;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>Dependencies point inward (Api -> Bot -> Core, Api -> Core; Client stands alone), checked twice: in the
/// project files (what a project may reference) and in the built assemblies (what it does reference).</summary>
public sealed class ArchitectureTests
{
    private static readonly Assembly Core = typeof(Core.Approvals.ApprovalService).Assembly;
    private static readonly Assembly Bot = typeof(Bot.VerifiedByPlatformMetadata).Assembly;

    public static TheoryData<string, string[]> ForbiddenProjectReferences => new()
    {
        { "Core", ["Api", "Bot", "Client"] },
        { "Bot", ["Api", "Client"] },
        { "Client", ["Api", "Bot", "Core"] },
    };

    [Theory]
    [MemberData(nameof(ForbiddenProjectReferences))]
    public void A_project_references_no_project_it_must_not(string project, string[] forbidden)
    {
        var references = ProjectFile(project).Descendants("ProjectReference")
            .Select(r => Path.GetFileNameWithoutExtension((string)r.Attribute("Include")!))
            .ToList();
        Assert.All(forbidden, name => Assert.DoesNotContain($"AgentSentinel.{name}", references));
    }

    [Theory]
    [InlineData("Core")]
    [InlineData("Client")]
    public void Core_and_the_client_do_not_take_all_of_aspnet_core(string project)
    {
        var frameworks = ProjectFile(project).Descendants("FrameworkReference").Select(r => (string)r.Attribute("Include")!).ToList();
        Assert.DoesNotContain("Microsoft.AspNetCore.App", frameworks);
        var packages = ProjectFile(project).Descendants("PackageReference").Select(r => (string)r.Attribute("Include")!).ToList();
        Assert.DoesNotContain(packages, p => p.StartsWith("Microsoft.AspNetCore.", StringComparison.Ordinal));
    }

    [Fact]
    public void The_client_does_not_take_the_servers_storage_or_jobs()
    {
        var packages = ProjectFile("Client").Descendants("PackageReference").Select(r => (string)r.Attribute("Include")!).ToList();
        Assert.DoesNotContain(packages, p => p is "Dapper" or "Npgsql" or "Microsoft.Data.Sqlite" || p.StartsWith("Hangfire", StringComparison.Ordinal));
    }

    [Fact]
    public void Core_knows_nothing_of_the_api_the_bots_or_http()
    {
        var references = Core.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.DoesNotContain(references, n => n.StartsWith("AgentSentinel.", StringComparison.Ordinal));
        Assert.DoesNotContain(references, n => n.StartsWith("Microsoft.AspNetCore.", StringComparison.Ordinal));
    }

    [Fact]
    public void The_bots_know_nothing_of_the_api_or_the_client()
    {
        var references = Bot.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.Contains("AgentSentinel.Core", references);
        Assert.DoesNotContain("AgentSentinel.Api", references);
        Assert.DoesNotContain("AgentSentinel.Client", references);
    }

    private static XDocument ProjectFile(string project) =>
        XDocument.Load(Path.Combine(Repository.Root, "src", project, $"AgentSentinel.{project}.csproj"));
}
