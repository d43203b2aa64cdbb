// Package client is a Go client for SignalR hubs: it connects to any
// ASP.NET Core SignalR-compatible server (a gosignalr hub or ASP.NET
// Core's) the way the official JavaScript client does, for programs that
// talk to a hub from Go: services, workers, tests.
//
// # Overview
//
//	c, err := client.New("https://example.com/chat",
//		client.WithAccessTokenProvider(tokens),
//		client.WithAutomaticReconnect())
//	if err != nil { ... }
//	c.On("message", func(from, text string) {
//		fmt.Println(from, text)
//	})
//	if err := c.Start(ctx); err != nil { ... }
//	defer c.Stop(context.Background())
//
//	var sum int
//	err = c.Invoke(ctx, &sum, "Add", 40, 2)      // waits for the result
//	err = c.Send(ctx, "Broadcast", "hello")      // does not wait for the method
//	for n, err := range client.Stream[int](ctx, c, "Counter", 5) { ... }
//
// Start negotiates (POST {url}/negotiate?negotiateVersion=1, following
// redirects), then opens the first transport that the client allows and
// the server offers, in the order WebSockets, Server-Sent Events, long
// polling (see WithTransports), negotiating again before trying the next
// when one fails to open, and completes the handshake for the protocol (JSON by default,
// or MessagePack with WithProtocol).
//
// # Calls and handlers
//
// Send, Invoke and Stream call hub methods; arguments are encoded by the
// protocol (structs by their json tags, under both protocols). A channel,
// iter.Seq or iter.Seq2[T, error] argument is streamed to the server as an
// upload. A server error comes back as a *ServerError with the server's
// text; errors.Is tells an unknown method (ErrMethodNotFound), a refused
// caller (ErrUnauthorized) and arguments that do not fit
// (ErrBindingFailed) from the hub's own errors.
//
// On (and the typed On1, Handle1, ... helpers) registers the client
// methods the server calls. A handler that returns a value answers the
// server's "client result" invocations.
//
// # Concurrency
//
// Every method of Client is safe for concurrent use. One goroutine reads
// each connection and never runs user code; handlers run one at a time in
// arrival order on a goroutine of their own, so a handler may call Invoke
// (and must not block forever: Stop waits for it). Stream items and
// handler invocations wait in memory until they are consumed. Messages
// sent from one goroutine reach the server in order; concurrent sends are
// packed into one frame when they meet.
//
// Stop leaves no goroutine behind: it waits for the reader, the writer,
// handlers and uploads. An upload from a channel stops when the call's
// context or the connection ends; one from an iterator stops at its next
// value.
//
// # Connection loss
//
// Keep-alive Pings go out after 15 s without sending (WithKeepAliveInterval)
// and the connection is dropped after 30 s without receiving anything
// (WithServerTimeout); long polling needs neither. When a connection is
// lost, pending Invoke calls and streams fail with an error wrapping
// ErrConnectionClosed. Without WithAutomaticReconnect or
// WithReconnectPolicy the client then closes (OnClosed); with them it
// reconnects (OnReconnecting, then OnReconnected with the new connection
// id), or closes when the policy gives up. A server Close message without
// allowReconnect always closes the client.
//
// With WithStatefulReconnect (and a server that allows it, over
// WebSockets), a dropped WebSocket is first reopened on the same
// connection: messages either side had not acknowledged are sent again,
// nothing is lost, calls stay pending and no callback runs.
//
// # Authentication
//
// WithAccessTokenProvider's token is sent as an Authorization: Bearer
// header on every request, WebSockets and Server-Sent Events included (a
// Go program is free to set headers, unlike a browser). WithHeader and
// WithHTTPClient (cookie jar, TLS, proxy) cover other schemes.
package client
