using System.Net;
using AgentSentinel.Core.Storage;

namespace AgentSentinel.Api.Hosting;

/// <summary>The page at <c>/</c>: what this server is and where to go next.</summary>
public static class LandingPage
{
    public static IResult Render(Database database)
    {
        var provider = WebUtility.HtmlEncode(database.Provider.ToString());
        var html = $$"""
            <!doctype html>
            <html lang="en">
            <head>
              <meta charset="utf-8">
              <meta name="viewport" content="width=device-width, initial-scale=1">
              <title>Agent Sentinel Approval Inbox</title>
              <style>
                body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 3rem auto; padding: 0 1rem; color: #1f2328; }
                code { background: #f3f4f6; padding: .1rem .3rem; border-radius: 4px; }
                li { margin: .4rem 0; }
              </style>
            </head>
            <body>
              <h1>Agent Sentinel Approval Inbox</h1>
              <p>Human-in-the-loop approvals for AI agents. This server is running on <strong>{{provider}}</strong>.</p>
              <ul>
                <li><a href="/scalar">API reference</a> (OpenAPI document at <a href="/openapi/v1.json"><code>/openapi/v1.json</code></a>)</li>
                <li><a href="/health/ready">Readiness</a> and <a href="/health/live">liveness</a></li>
              </ul>
              <p>Agents call <code>POST /api/v1/approvals</code> with <code>Authorization: ApiKey &lt;key&gt;</code>.
                 On a fresh install the first admin key is in the file named in the server's start-up log.</p>
            </body>
            </html>
            """;
        return TypedResults.Content(html, "text/html; charset=utf-8");
    }
}
