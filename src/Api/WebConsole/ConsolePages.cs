using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.Net.Http.Headers;

namespace AgentSentinel.Api.WebConsole;

/// <summary>Marks the console's pages, files and calls, which get the strict security headers.</summary>
public sealed class ConsoleEndpointMetadata
{
    public static readonly ConsoleEndpointMetadata Instance = new();
}

/// <summary>The console's pages and files, embedded in this assembly so the console works offline and from any
/// working folder. Every page is the same shell; the script shows the page the address names.</summary>
public static class ConsolePages
{
    /// <summary>No inline script or style, no eval, nothing from elsewhere.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    private const string ResourcePrefix = "console/";

    private static readonly FrozenDictionary<string, Asset> Assets = LoadAssets();

    /// <summary>The console's addresses; <c>/approvals/{id}</c> is where chat messages link to.</summary>
    private static readonly string[] PagePaths = ["/", "/signin", "/inbox", "/approvals/{id}", "/stats", "/grants", "/away", "/admin"];

    public static IEndpointRouteBuilder MapConsolePages(this IEndpointRouteBuilder app)
    {
        foreach (var path in PagePaths)
        {
            app.MapGet(path, (HttpContext http) => Serve(http, "index.html"))
                .WithName("ConsolePage" + (path == "/" ? "Root" : path.Split('/')[1]))
                .AllowAnonymous().WithMetadata(new AnonymousByDesignMetadata("The page shell holds no data; its calls need a session."))
                .WithMetadata(ConsoleEndpointMetadata.Instance).ExcludeFromDescription();
        }
        app.MapGet("/console/assets/{name}", (HttpContext http, string name) => Serve(http, name))
            .WithName("ConsoleAsset")
            .AllowAnonymous().WithMetadata(new AnonymousByDesignMetadata("The console's own scripts and styles."))
            .WithMetadata(ConsoleEndpointMetadata.Instance).ExcludeFromDescription();
        return app;
    }

    /// <summary>Adds the security headers to every console response, errors included.</summary>
    public static IApplicationBuilder UseConsoleSecurityHeaders(this IApplicationBuilder app) =>
        app.Use(async (context, next) =>
        {
            if (context.GetEndpoint()?.Metadata.GetMetadata<ConsoleEndpointMetadata>() is not null)
            {
                var headers = context.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
                headers.XFrameOptions = "DENY";
                headers["Referrer-Policy"] = "no-referrer";
                headers["Cross-Origin-Opener-Policy"] = "same-origin";
            }
            await next(context);
        });

    private static IResult Serve(HttpContext http, string name)
    {
        if (!Assets.TryGetValue(name, out var asset))
        {
            return TypedResults.Problem($"The console has no file '{(name.Length > 64 ? name[..64] : name)}'.", statusCode: StatusCodes.Status404NotFound, title: "Not found");
        }
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers.ETag = asset.ETag;
        if (http.Request.Headers.IfNoneMatch.ToString() == asset.ETag)
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }
        return TypedResults.Bytes(asset.Content, asset.ContentType);
    }

    private static FrozenDictionary<string, Asset> LoadAssets()
    {
        var assembly = typeof(ConsolePages).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var content = copy.ToArray();
            var name = resource[ResourcePrefix.Length..];
            var etag = new EntityTagHeaderValue($"\"{Convert.ToHexStringLower(SHA256.HashData(content))[..16]}\"").ToString();
            assets[name] = new Asset(content, ContentTypeOf(name), etag);
        }
        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string ContentTypeOf(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };

    private sealed record Asset(byte[] Content, string ContentType, string ETag);
}
