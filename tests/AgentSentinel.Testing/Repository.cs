namespace AgentSentinel.Testing;

/// <summary>The repository these tests and benchmarks were built from.</summary>
public static class Repository
{
    /// <summary>The folder holding AgentSentinel.sln, found above the running binaries.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>Points the in-memory host at the Api project's folder as its content root, for programs that are not
    /// test assemblies (the test host finds it by itself).</summary>
    public static void UseApiContentRoot() =>
        Environment.SetEnvironmentVariable("ASPNETCORE_TEST_CONTENTROOT_AGENTSENTINEL_API", Path.Combine(Root, "src", "Api"));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AgentSentinel.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("The repository root (with AgentSentinel.sln) was not found above " + AppContext.BaseDirectory);
    }
}
