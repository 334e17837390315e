using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using AgentSentinel.Core.Callbacks;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Callbacks;

/// <summary>The outcome of one try: the receiver's status code, or why there was none. <see cref="Refused"/> means
/// the server would not call that address at all (nothing was sent), which no retry can change.</summary>
public sealed record CallbackSendResult(int? Status, string? Error, bool Refused, TimeSpan Duration)
{
    public bool Succeeded => Status is >= 200 and < 300;
}

/// <summary>A callback target that the server refuses to connect to.</summary>
public sealed class CallbackRefusedException(string message) : Exception(message);

/// <summary>
/// Posts callbacks without ever reaching an internal service: the URL is checked against the allow list before each
/// try; the connection is made by <see cref="SocketsHttpHandler.ConnectCallback"/>, which resolves the host itself,
/// refuses if any of its addresses is internal (unless that exact IP is listed) and connects only to the addresses it
/// vetted, so a DNS answer that changes between a check and the connection cannot slip through. No proxy, no
/// redirects, no cookies, a timeout on the wall clock, and the response body is never read.
/// </summary>
public sealed class CallbackSender : IDisposable
{
    public const string UserAgent = "AgentSentinel-Callbacks/1.0";

    private readonly IOptionsMonitor<CallbackOptions> _options;
    private readonly HttpClient _client;

    public CallbackSender(IOptionsMonitor<CallbackOptions> options)
    {
        _options = options;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxResponseHeadersLength = 16,
            // Connections are vetted when they are made; keep them short-lived so a host's addresses are re-checked.
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            ConnectCallback = ConnectAsync,
        };
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public async Task<CallbackSendResult> SendAsync(CallbackDelivery delivery, int attempt, string secret, string keyId, DateTimeOffset now, CancellationToken ct)
    {
        var options = _options.CurrentValue;
        var clock = Stopwatch.StartNew();
        if (!Uri.TryCreate(delivery.Url, UriKind.Absolute, out var url))
        {
            return new CallbackSendResult(null, "Refused: the stored URL is not valid.", Refused: true, clock.Elapsed);
        }
        if (CallbackUrlPolicy.Check(url, options) is { } refusal)
        {
            return new CallbackSendResult(null, "Refused: " + refusal, Refused: true, clock.Elapsed);
        }
        var body = Encoding.UTF8.GetBytes(delivery.Body);
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.UserAgent.ParseAdd(UserAgent);
        request.Headers.TryAddWithoutValidation(CallbackSignature.SignatureHeader, CallbackSignature.Header(secret, now, delivery.Url, keyId, body));
        request.Headers.TryAddWithoutValidation(CallbackSignature.DeliveryHeader, delivery.DeliveryId);
        request.Headers.TryAddWithoutValidation(CallbackSignature.EventHeader, delivery.Event);
        request.Headers.TryAddWithoutValidation(CallbackSignature.AttemptHeader, attempt.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.Timeout);
        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            var error = status switch
            {
                >= 200 and < 300 => null,
                >= 300 and < 400 => $"The receiver answered {status} (a redirect, which is never followed).",
                _ => $"The receiver answered {status}.",
            };
            return new CallbackSendResult(status, error, Refused: false, clock.Elapsed);
        }
        catch (HttpRequestException e) when (FindRefusal(e) is { } refused)
        {
            return new CallbackSendResult(null, "Refused: " + refused.Message, Refused: true, clock.Elapsed);
        }
        catch (HttpRequestException e)
        {
            return new CallbackSendResult(null, $"The request failed: {e.Message}", Refused: false, clock.Elapsed);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new CallbackSendResult(null, $"No answer within {options.Timeout.TotalSeconds:0.###} s.", Refused: false, clock.Elapsed);
        }
    }

    private static CallbackRefusedException? FindRefusal(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is CallbackRefusedException refused)
            {
                return refused;
            }
        }
        return null;
    }

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var allowed = _options.CurrentValue.AllowedHosts;
        var host = CallbackUrlPolicy.NormalizeHost(context.DnsEndPoint.Host);
        IPAddress[] addresses;
        if (IPAddress.TryParse(host, out var literal))
        {
            addresses = [literal];
        }
        else
        {
            try
            {
                addresses = await Dns.GetHostAddressesAsync(host, ct);
            }
            catch (SocketException e)
            {
                throw new CallbackRefusedException($"the host '{host}' could not be resolved ({e.SocketErrorCode}).");
            }
        }
        if (addresses.Length == 0)
        {
            throw new CallbackRefusedException($"the host '{host}' has no address.");
        }
        var internalOnes = addresses.Where(a => !CallbackUrlPolicy.MayConnect(a, allowed)).ToList();
        if (internalOnes.Count > 0)
        {
            throw new CallbackRefusedException(
                $"the host '{host}' resolves to {string.Join(", ", internalOnes)}, which is not a public address and not listed exactly in AgentSentinel:Callbacks:AllowedHosts.");
        }
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            // Only the vetted addresses, never the name again.
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose() => _client.Dispose();
}
