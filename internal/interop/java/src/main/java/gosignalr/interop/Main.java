package gosignalr.interop;

import com.microsoft.signalr.HttpHubConnectionBuilder;
import com.microsoft.signalr.HubConnection;
import com.microsoft.signalr.HubConnectionBuilder;
import com.microsoft.signalr.HubConnectionState;
import com.microsoft.signalr.TransportEnum;
import io.reactivex.rxjava3.core.Observable;
import io.reactivex.rxjava3.core.Single;
import io.reactivex.rxjava3.disposables.Disposable;
import io.reactivex.rxjava3.subjects.ReplaySubject;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs the interop scenarios with the official SignalR Java client against
 * a gosignalr server and prints one JSON line per scenario, then a closing
 * "N passed, N failed, N skipped" line. Exits 0 only when nothing failed.
 *
 * <p>Environment:
 * <ul>
 *   <li>SIGNALR_URL: base URL of the interop server (hubs /hub, /nokeepalive, /shutdown)</li>
 *   <li>SIGNALR_AUTH_URL: base URL of the auth server (hub /secure, negotiate redirect /redirect)</li>
 *   <li>SIGNALR_TRANSPORT: WebSockets | LongPolling</li>
 *   <li>SIGNALR_PROTOCOL: json (the only protocol this build of the client carries)</li>
 *   <li>SIGNALR_ONLY: optional; run only scenarios whose name contains it</li>
 * </ul>
 */
public final class Main {
    static final long CALL_SECONDS = 10;
    static final long START_SECONDS = 10;

    static String base;
    static String authBase;
    static String transportName;
    static TransportEnum transport;
    static String protocolName;

    /** Connections opened by the running scenario; stopped after it. */
    static final List<HubConnection> open = new CopyOnWriteArrayList<>();
    static final Map<HubConnection, BlockingQueue<String>> received = new ConcurrentHashMap<>();
    static final Map<HubConnection, CompletableFuture<Throwable>> closed = new ConcurrentHashMap<>();
    static final Map<HubConnection, String> labels = new ConcurrentHashMap<>();

    static int passed, failed, skipped;

    interface Body {
        void run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        base = requireEnv("SIGNALR_URL");
        authBase = requireEnv("SIGNALR_AUTH_URL");
        transportName = env("SIGNALR_TRANSPORT", "WebSockets");
        switch (transportName.toLowerCase()) {
            case "websockets": transport = TransportEnum.WEBSOCKETS; break;
            case "longpolling": transport = TransportEnum.LONG_POLLING; break;
            default: fatal("SIGNALR_TRANSPORT=" + transportName + " is not WebSockets or LongPolling (the Java client has no Server-Sent Events)");
        }
        protocolName = env("SIGNALR_PROTOCOL", "json");
        if (!protocolName.equalsIgnoreCase("json")) {
            fatal("SIGNALR_PROTOCOL=" + protocolName + ": this build carries only the client's JSON protocol (see README.md)");
        }
        String only = env("SIGNALR_ONLY", "");
        boolean ws = transport == TransportEnum.WEBSOCKETS;

        ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        List<Object[]> all = new ArrayList<>();
        all.add(new Object[] {"J01 invoke with result", 20, (Body) Main::invokeWithResult});
        all.add(new Object[] {"J02 typed and complex arguments", 20, (Body) Main::typedArguments});
        all.add(new Object[] {"J03 send without completion", 20, (Body) Main::sendWithoutCompletion});
        all.add(new Object[] {"J04 targets: caller, all, others, client, clients, users", 40, (Body) Main::targets});
        all.add(new Object[] {"J05 groups", 40, (Body) Main::groups});
        all.add(new Object[] {"J06 errors keep the connection usable", 30, (Body) Main::errors});
        all.add(new Object[] {"J07 skip negotiation", 20, ws ? (Body) Main::skipNegotiation : null,
            "the Java client skips negotiation only with WebSockets (\"Negotiation can only be skipped when using the WebSocket transport directly\")"});
        all.add(new Object[] {"J08 large payloads, and an oversized one closes only that connection", 30, (Body) Main::largePayloads});
        all.add(new Object[] {"J09a keep-alive pings keep an idle connection open", 20, (Body) Main::keepAlive});
        all.add(new Object[] {"J09b no keep-alive: the client's server timeout fires", 20, ws ? (Body) Main::serverTimeout : null,
            "long polling carries no pings, and the Java client's server timeout does not fire on it (a connection to a hub without keep-alive stays connected)"});
        all.add(new Object[] {"J11 server streams", 30, (Body) Main::serverStreams});
        all.add(new Object[] {"J12 disposing a stream subscription stops the server producer", 30, (Body) Main::streamCancel});
        // Over long polling the Java client sends each message in its own
        // POST, several at once (OkHttp's asynchronous calls), so the items
        // of an upload and its completion can reach any server out of order.
        all.add(new Object[] {"J13 uploads", 30, ws ? (Body) Main::uploads : null,
            "the Java client's long polling sends each message in its own concurrent POST, so an upload's items and completion can arrive out of order (README.md)"});
        all.add(new Object[] {"J14 client results", 40, (Body) Main::clientResults});
        all.add(new Object[] {"J15 access tokens", 30, (Body) Main::accessTokens});
        all.add(new Object[] {"J16 negotiate redirect", 20, (Body) Main::negotiateRedirect});
        // Must stay last: the /shutdown hub shuts down once per server.
        all.add(new Object[] {"J17 server-initiated close (hub shutdown)", 30, (Body) Main::serverClose});

        for (Object[] s : all) {
            String name = s[0] + " (" + transportName + "/" + protocolName + ")";
            if (!only.isEmpty() && !name.contains(only)) {
                continue;
            }
            Body body = (Body) s[2];
            if (body == null) {
                skipped++;
                report(name, "skip", 0, transportName + ": " + s[3]);
                continue;
            }
            long start = System.nanoTime();
            Future<?> f = pool.submit(() -> {
                body.run();
                return null;
            });
            String error = null;
            try {
                f.get((Integer) s[1], TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                f.cancel(true);
                error = "timed out after " + s[1] + "s";
            } catch (java.util.concurrent.ExecutionException e) {
                error = describe(e.getCause());
            }
            stopAll();
            long ms = (System.nanoTime() - start) / 1_000_000;
            if (error == null) {
                passed++;
                report(name, "pass", ms, null);
            } else {
                failed++;
                report(name, "fail", ms, error);
            }
        }
        System.out.println(passed + " passed, " + failed + " failed, " + skipped + " skipped");
        System.out.flush();
        System.exit(failed == 0 && passed > 0 ? 0 : 1);
    }

    // ------------------------------------------------------------------
    // Scenarios

    static void invokeWithResult() throws Exception {
        HubConnection c = connect("/hub", "solo");
        check(call(c, Integer.class, "Add", 40, 2), 42, "Add(40, 2)");
        check(call(c, Integer.class, "add", 1, 2), 3, "hub method names are case-insensitive");
        String unicode = "héllo wörld 🌍 日本語 \u0000?";
        check(call(c, String.class, "Echo", unicode), unicode, "Echo(unicode)");
        check(call(c, String.class, "ECHO", unicode), unicode, "ECHO(unicode)");
        String separator = "rs:\u001e:end";
        check(call(c, String.class, "Echo", separator), separator, "Echo(record separator)");
        check(call(c, String.class, "Echo", ""), "", "Echo(\"\")");
        String id = call(c, String.class, "GetConnectionId");
        check(id, c.getConnectionId(), "GetConnectionId equals the negotiated connection id");
        check(call(c, String.class, "GetUser"), "", "a connection without ?user= has no user");
        assertConnected(c);
    }

    static void typedArguments() throws Exception {
        HubConnection c = connect("/hub", "typed");
        Kitchen k = Kitchen.sample();
        check(call(c, Kitchen.class, "EchoKitchen", k), k, "EchoKitchen");

        Kitchen noInner = Kitchen.sample();
        noInner.name = "no inner";
        noInner.inner = null;
        Kitchen back = call(c, Kitchen.class, "EchoKitchen", noInner);
        check(back.inner, null, "a null inner comes back as null");
        check(back, noInner, "EchoKitchen without inner");

        check(call(c, Boolean.class, "IsNil", (Object) null), true, "IsNil(null)");
        Inner in = new Inner();
        in.label = "a";
        in.values = List.of(1);
        check(call(c, Boolean.class, "IsNil", in), false, "IsNil(inner)");
        check(call(c, Double.class, "Sum", (Object) new double[] {1.5, 2.5, 3}), 7.0, "Sum(double[])");
        check(call(c, Double.class, "Sum", List.of(0.25, 0.5)), 0.75, "Sum(List<Double>)");
        check(call(c, String.class, "Describe", "int", 5), "int:5", "Describe(int)");
        check(call(c, String.class, "Describe", "string", "x"), "string:x", "Describe(string)");
        check(call(c, String.class, "Describe", "list", List.of(1, 2, 3)), "list:[1 2 3]", "Describe(list)");
        assertConnected(c);
    }

    static void sendWithoutCompletion() throws Exception {
        HubConnection c = connect("/hub", "sender");
        BlockingQueue<String> notified = new LinkedBlockingQueue<>();
        c.on("notified", notified::add, String.class);
        c.send("Notify", "hi");
        check(poll(notified, 5), "hi", "the notified callback after send('Notify')");
        check(call(c, Integer.class, "Add", 1, 1), 2, "Add after send");
        check(notified.poll(), null, "nothing else was notified");
        assertConnected(c);
    }

    static void targets() throws Exception {
        HubConnection a = connect("/hub?user=alice", "A(alice)");
        HubConnection b = connect("/hub?user=alice", "B(alice)");
        HubConnection cc = connect("/hub?user=bob", "C(bob)");
        List<HubConnection> all = List.of(a, b, cc);
        for (HubConnection c : all) {
            check(call(c, String.class, "GetConnectionId"), c.getConnectionId(), labels.get(c) + ": GetConnectionId");
        }
        check(call(a, String.class, "GetUser"), "alice", "A's user");
        check(call(b, String.class, "GetUser"), "alice", "B's user");
        check(call(cc, String.class, "GetUser"), "bob", "C's user");

        delivery(a, "SendToCaller", List.of(a), all, text("caller"));
        delivery(a, "SendToAll", List.of(a, b, cc), all, text("all"));
        delivery(a, "SendToOthers", List.of(b, cc), all, text("others"));
        delivery(a, "SendToClient", List.of(cc), all, cc.getConnectionId(), text("client"));
        delivery(b, "SendToClients", List.of(a, cc), all, List.of(a.getConnectionId(), cc.getConnectionId()), text("clients"));
        delivery(a, "SendToAllExcept", List.of(a, cc), all, List.of(b.getConnectionId()), text("allexcept"));
        delivery(cc, "SendToUser", List.of(a, b), all, "alice", text("user"));
        delivery(a, "SendToUsers", List.of(a, b, cc), all, List.of("alice", "bob"), text("users"));
        for (HubConnection c : all) {
            assertConnected(c);
        }
    }

    static void groups() throws Exception {
        String g = "g-" + uid();
        String h = "h-" + uid();
        HubConnection a = connect("/hub", "A");
        HubConnection b = connect("/hub", "B");
        HubConnection c = connect("/hub", "C");
        List<HubConnection> all = List.of(a, b, c);
        callVoid(a, "JoinGroup", g);
        callVoid(b, "JoinGroup", g);
        delivery(c, "SendToGroup", List.of(a, b), all, g, text("group"));
        delivery(a, "SendToOthersInGroup", List.of(b), all, g, text("othersingroup"));
        delivery(c, "SendToGroupExcept", List.of(a), all, g, List.of(b.getConnectionId()), text("groupexcept"));
        // A is in g and h: SendToGroups reaches it once.
        callVoid(c, "JoinGroup", h);
        callVoid(a, "JoinGroup", h);
        delivery(b, "SendToGroups", List.of(a, b, c), all, List.of(g, h), text("groups"));
        callVoid(b, "LeaveGroup", g);
        delivery(c, "SendToGroup", List.of(a), all, g, text("afterleave"));
        for (HubConnection x : all) {
            assertConnected(x);
        }
    }

    static void errors() throws Exception {
        HubConnection c = connect("/hub", "errors");
        check(invokeError(c, "Fail", "boom"), "An unexpected error occurred invoking 'Fail' on the server.", "Fail");
        assertConnected(c);
        String hubMsg = "hub says no " + uid();
        check(invokeError(c, "FailHub", hubMsg),
                "An unexpected error occurred invoking 'FailHub' on the server. HubException: " + hubMsg, "FailHub");
        check(invokeError(c, "Panic"), "An unexpected error occurred invoking 'Panic' on the server.", "Panic");
        assertConnected(c);
        check(call(c, Integer.class, "Add", 2, 3), 5, "Add after Panic");
        check(invokeError(c, "NoSuchMethod"),
                "Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method does not exist.",
                "an unknown method");
        // Without detailed errors the server, as ASP.NET Core's, names no
        // cause for arguments it cannot bind.
        check(invokeError(c, "Add", 1),
                "Failed to invoke 'Add' due to an error on the server.",
                "too few arguments");
        check(invokeError(c, "Add", "x", 2),
                "Failed to invoke 'Add' due to an error on the server.",
                "a badly typed argument");
        check(call(c, Integer.class, "Add", 40, 2), 42, "Add after all errors");
        assertConnected(c);
    }

    static void skipNegotiation() throws Exception {
        HubConnection c = connect(HubConnectionBuilder.create(base + "/hub").withTransport(transport).shouldSkipNegotiate(true), "skipneg", true);
        check(call(c, Integer.class, "Add", 40, 2), 42, "Add");
        String id = call(c, String.class, "GetConnectionId");
        if (id == null || id.isEmpty()) {
            throw new AssertionError("GetConnectionId returned an empty id");
        }
        String msg = text("skipneg");
        callVoid(c, "SendToClient", id, msg);
        check(poll(received.get(c), 5), msg, "a message to the server-made id");
        assertConnected(c);
    }

    static void largePayloads() throws Exception {
        HubConnection bystander = connect("/hub", "bystander");
        HubConnection c = connect("/hub", "large");
        // Just under the server's default 32 KiB limit on one message.
        String big = "ü".repeat(100) + "x".repeat(32_000);
        check(call(c, String.class, "Echo", big), big, "Echo of " + big.length() + " characters");
        check(call(c, Integer.class, "Add", 1, 2), 3, "Add after the large echo");
        // A large message from the server: a stream of 500 items, and 30 KB to every member of a group.
        List<Integer> items = c.stream(Integer.class, "CounterSeq", 500).timeout(CALL_SECONDS, TimeUnit.SECONDS).toList().blockingGet();
        check(items, range(1, 500), "CounterSeq(500)");
        String g = "big-" + uid();
        callVoid(bystander, "JoinGroup", g);
        callVoid(c, "JoinGroup", g);
        String payload = "y".repeat(30_000);
        callVoid(c, "SendToGroup", g, payload);
        check(poll(received.get(bystander), 5), payload, "a 30000-character group message");
        check(poll(received.get(c), 5), payload, "a 30000-character group message to the sender");

        HubConnection over = connect("/hub", "oversized");
        Throwable err;
        try {
            over.invoke(String.class, "Echo", "x".repeat(40_000)).timeout(CALL_SECONDS, TimeUnit.SECONDS).blockingGet();
            throw new AssertionError("an Echo of 40000 characters (> 32768 bytes) succeeded");
        } catch (RuntimeException e) {
            err = e;
        }
        Throwable closeErr = waitClosed(over, 5);
        if (closeErr == null || !String.valueOf(closeErr.getMessage()).contains("exceeds the maximum message size")) {
            throw new AssertionError("the oversized connection should close with an error mentioning the maximum message size; invoke failed with "
                    + describe(err) + ", onClosed got " + describe(closeErr));
        }
        assertConnected(bystander);
        check(call(bystander, Integer.class, "Add", 40, 2), 42, "bystander Add");
    }

    static void keepAlive() throws Exception {
        HttpHubConnectionBuilder bld = HubConnectionBuilder.create(base + "/hub").withTransport(transport)
                .withServerTimeout(2_000).withKeepAliveInterval(1_000);
        HubConnection c = connect(bld, "idle", true);
        Thread.sleep(5_000);
        assertConnected(c);
        check(call(c, Integer.class, "Add", 40, 2), 42, "Add after 5s idle");
    }

    static void serverTimeout() throws Exception {
        HttpHubConnectionBuilder bld = HubConnectionBuilder.create(base + "/nokeepalive").withTransport(transport)
                .withServerTimeout(2_000).withKeepAliveInterval(1_000);
        HubConnection c = connect(bld, "nokeepalive", true);
        Throwable err = waitClosed(c, 8);
        if (err == null || !String.valueOf(err.getMessage()).contains("Server timeout elapsed without receiving a message from the server.")) {
            throw new AssertionError("onClosed should report the server timeout, got " + describe(err));
        }
    }

    static void serverStreams() throws Exception {
        HubConnection c = connect("/hub", "streams");
        check(stream(c, "Counter", 5, 20), range(1, 5), "Counter(5, 20)");
        check(stream(c, "Counter", 0, 0), List.of(), "Counter(0, 0)");
        check(stream(c, "counter", 3, 0), range(1, 3), "counter(3, 0): case-insensitive");
        check(stream(c, "CounterSeq", 1), List.of(1), "CounterSeq(1)");
        check(stream(c, "CounterSeq", 0), List.of(), "CounterSeq(0)");

        // Two streams at once, and an invocation beside them.
        Single<List<Integer>> s1 = c.stream(Integer.class, "Counter", 20, 5).timeout(CALL_SECONDS, TimeUnit.SECONDS).toList();
        Single<List<Integer>> s2 = c.stream(Integer.class, "Counter", 10, 5).timeout(CALL_SECONDS, TimeUnit.SECONDS).toList();
        CompletableFuture<List<Integer>> f1 = s1.toCompletionStage().toCompletableFuture();
        CompletableFuture<List<Integer>> f2 = s2.toCompletionStage().toCompletableFuture();
        check(call(c, Integer.class, "Add", 40, 2), 42, "Add while two streams run");
        check(f1.get(CALL_SECONDS, TimeUnit.SECONDS), range(1, 20), "first concurrent stream");
        check(f2.get(CALL_SECONDS, TimeUnit.SECONDS), range(1, 10), "second concurrent stream");

        // A stream that fails after its items.
        List<Integer> items = new CopyOnWriteArrayList<>();
        CompletableFuture<Throwable> end = new CompletableFuture<>();
        c.stream(Integer.class, "FailingStream", 3).subscribe(items::add, end::complete, () -> end.complete(null));
        Throwable err = end.get(CALL_SECONDS, TimeUnit.SECONDS);
        check(items, range(1, 3), "FailingStream(3) items before the error");
        check(err == null ? "completed" : err.getMessage(),
                "An error occurred on the server while streaming results. HubException: stream failed", "FailingStream(3) error");

        // stream() of a method that is not a stream.
        CompletableFuture<Throwable> notStream = new CompletableFuture<>();
        c.stream(Integer.class, "Add", 1, 2).subscribe(x -> notStream.complete(new AssertionError("an item " + x)),
                notStream::complete, () -> notStream.complete(null));
        Throwable ns = notStream.get(CALL_SECONDS, TimeUnit.SECONDS);
        check(ns == null ? "completed" : ns.getMessage(),
                "The client attempted to invoke the non-streaming 'Add' method with a streaming invocation.", "stream('Add')");
        check(call(c, Integer.class, "Add", 1, 2), 3, "Add after the streams");
        assertConnected(c);
    }

    static void streamCancel() throws Exception {
        HubConnection c = connect("/hub", "cancel");
        String name = "java-" + uid();
        check(call(c, Boolean.class, "StreamStopped", name), false, "StreamStopped of a name never streamed");
        BlockingQueue<Integer> items = new LinkedBlockingQueue<>();
        CompletableFuture<String> ended = new CompletableFuture<>();
        Disposable d = c.stream(Integer.class, "InfiniteStream", name)
                .subscribe(items::add, e -> ended.complete("error " + e), () -> ended.complete("completed"));
        for (int i = 0; i < 3; i++) {
            check(poll(items, 5) != null, true, "item " + i + " of InfiniteStream");
        }
        check(call(c, Boolean.class, "StreamStopped", name), false, "StreamStopped while the stream runs");
        d.dispose();
        waitFor(() -> call(c, Boolean.class, "StreamStopped", name), 5, "the server producer stops after dispose()");
        check(ended.getNow(null), null, "a disposed subscription is neither completed nor failed");
        check(call(c, Integer.class, "Add", 40, 2), 42, "Add after the cancel");
        check(stream(c, "Counter", 3, 0), range(1, 3), "a stream after the cancel");

        // Stopping the connection stops a producer too.
        HubConnection watcher = connect("/hub", "watcher");
        HubConnection s = connect("/hub", "streamer");
        String name2 = "java-" + uid();
        BlockingQueue<Integer> items2 = new LinkedBlockingQueue<>();
        s.stream(Integer.class, "InfiniteStream", name2).subscribe(items2::add, e -> { }, () -> { });
        check(poll(items2, 5) != null, true, "an item of the second InfiniteStream");
        s.stop().blockingAwait(CALL_SECONDS, TimeUnit.SECONDS);
        waitFor(() -> call(watcher, Boolean.class, "StreamStopped", name2), 5, "the server producer stops after stop()");
        assertConnected(c);
    }

    static void uploads() throws Exception {
        HubConnection c = connect("/hub", "uploads");
        ReplaySubject<Integer> nums = ReplaySubject.create();
        Single<Integer> sum = c.invoke(Integer.class, "UploadSum", nums);
        for (int i = 1; i <= 100; i++) {
            nums.onNext(i);
        }
        nums.onComplete();
        check(await(sum, "UploadSum(1..100)"), 5050, "UploadSum(1..100)");

        ReplaySubject<Integer> none = ReplaySubject.create();
        Single<Integer> empty = c.invoke(Integer.class, "UploadSum", none);
        none.onComplete();
        check(await(empty, "UploadSum of nothing"), 0, "UploadSum of nothing");

        List<String> parts = List.of("ä", "b", "🌍", "d", "", "end");
        check(await(c.invoke(String.class, "UploadConcat", Observable.fromIterable(parts)), "UploadConcat"),
                String.join("", parts), "UploadConcat keeps the order");

        ReplaySubject<Integer> mixed = ReplaySubject.create();
        Single<String> total = c.invoke(String.class, "UploadMixed", "total=", mixed);
        for (int i = 1; i <= 10; i++) {
            mixed.onNext(i);
        }
        mixed.onComplete();
        check(await(total, "UploadMixed"), "total=55", "UploadMixed");

        ReplaySubject<String> za = ReplaySubject.create();
        ReplaySubject<String> zb = ReplaySubject.create();
        Single<String> zip = c.invoke(String.class, "UploadZip", za, zb);
        za.onNext("1");
        zb.onNext("x");
        zb.onNext("y");
        za.onNext("2");
        zb.onNext("z");
        za.onNext("3");
        za.onComplete();
        zb.onNext("w");
        zb.onComplete();
        check(await(zip, "UploadZip"), "a:1,2,3|b:x,y,z,w", "UploadZip");

        // send() with a stream: no completion, but the server still reads it.
        ReplaySubject<Integer> sent = ReplaySubject.create();
        c.send("UploadSum", sent);
        sent.onNext(1);
        sent.onComplete();

        ReplaySubject<Integer> failing = ReplaySubject.create();
        Single<String> failed = c.invoke(String.class, "UploadFailing", failing);
        failing.onNext(1);
        failing.onNext(2);
        failing.onError(new RuntimeException("client broke"));
        String v = await(failed, "UploadFailing");
        if (!v.startsWith("error:") || !v.contains("client broke")) {
            throw new AssertionError("UploadFailing: expected \"error:...client broke...\", got " + quote(v));
        }
        check(call(c, Integer.class, "Add", 40, 2), 42, "Add after the uploads");
        assertConnected(c);
    }

    static void clientResults() throws Exception {
        HubConnection c = connect("/hub", "clientresults");
        List<String> answered = new CopyOnWriteArrayList<>();
        c.onWithResult("answer", (String x) -> {
            answered.add(x);
            return Single.just(x + "!");
        }, String.class);
        c.onWithResult("thrower", (String x) -> Single.error(new RuntimeException("nope")), String.class);
        c.onWithResult("later", (String x) -> Single.just(x + " later").delay(50, TimeUnit.MILLISECONDS), String.class);
        AtomicInteger hangs = new AtomicInteger();
        c.onWithResult("hang", () -> {
            hangs.incrementAndGet();
            return Single.<String>never();
        });
        c.on("silent", (String x) -> { }, String.class);

        check(call(c, String.class, "AskClient", "answer", "hi"), "ok:hi!", "AskClient(answer)");
        check(answered, List.of("hi"), "the answer handler ran once, with the argument");
        check(call(c, String.class, "AskClient", "later", "async"), "ok:async later", "an asynchronous handler");
        String thrown = call(c, String.class, "AskClient", "thrower", "x");
        if (!thrown.startsWith("error:") || !thrown.contains("nope")) {
            throw new AssertionError("a failing handler: expected \"error:...nope...\", got " + quote(thrown));
        }
        // The Java client's own texts (HubConnection.handleInvocation and its
        // JSON protocol's binding failure for a target without a handler);
        // the JavaScript client says "Client didn't provide a result." for both.
        String missing = call(c, String.class, "AskClient", "missing" + uid(), "x");
        check(missing, "error:Client failed to parse argument(s).", "no handler for the method");
        String silent = call(c, String.class, "AskClient", "silent", "x");
        check(silent, "error:Client did not provide a result.", "a handler without a result");
        check(call(c, String.class, "AskClientTimeout", "hang", 300), "timeout", "a handler that never answers");
        check(hangs.get(), 1, "the never-answering handler ran once");
        check(call(c, Integer.class, "Add", 40, 2), 42, "Add after the client results");

        HubConnection other = connect("/hub", "other");
        other.onWithResult("answer", (String x) -> Single.just("B:" + x), String.class);
        check(call(c, String.class, "AskOther", other.getConnectionId(), "answer", "hi"), "ok:B:hi", "A asks B");
        check(call(other, String.class, "AskOther", c.getConnectionId(), "answer", "yo"), "ok:yo!", "B asks A");
        assertConnected(c);
        assertConnected(other);
    }

    static void accessTokens() throws Exception {
        AtomicInteger asked = new AtomicInteger();
        Single<String> provider = Single.defer(() -> {
            asked.incrementAndGet();
            return Single.just("tok-alice");
        });
        HubConnection c = connect(HubConnectionBuilder.create(authBase + "/secure").withTransport(transport)
                .withAccessTokenProvider(provider), "alice", true);
        check(call(c, String.class, "GetUser"), "alice", "the user of the bearer token");
        check(call(c, Integer.class, "Add", 40, 2), 42, "Add with a token");
        if (asked.get() < 1) {
            throw new AssertionError("the access token provider was never asked");
        }
        delivery(c, "SendToUser", List.of(c), List.of(c), "alice", text("user"));
        assertConnected(c);

        for (String[] bad : new String[][] {{"no token", null}, {"a wrong token", "forged"}}) {
            HttpHubConnectionBuilder b = HubConnectionBuilder.create(authBase + "/secure").withTransport(transport);
            if (bad[1] != null) {
                b.withAccessTokenProvider(Single.just(bad[1]));
            }
            HubConnection refused = connect(b, "refused", false);
            Throwable err = null;
            try {
                if (!refused.start().blockingAwait(START_SECONDS, TimeUnit.SECONDS)) {
                    throw new AssertionError(bad[0] + ": start() neither completed nor failed");
                }
            } catch (RuntimeException e) {
                err = e;
            }
            if (err == null || !String.valueOf(err.getMessage()).contains("401")) {
                throw new AssertionError(bad[0] + ": start() should fail with 401, got " + describe(err));
            }
        }
    }

    static void negotiateRedirect() throws Exception {
        HubConnection c = connect(HubConnectionBuilder.create(authBase + "/redirect").withTransport(transport), "redirected", true);
        check(call(c, String.class, "GetUser"), "redirected", "the user of the redirect's access token");
        check(call(c, Integer.class, "Add", 40, 2), 42, "Add after the redirect");
        String msg = text("redirect");
        callVoid(c, "SendToCaller", msg);
        check(poll(received.get(c), 5), msg, "a message after the redirect");
        assertConnected(c);
    }

    static void serverClose() throws Exception {
        HubConnection x = connect("/shutdown", "shutdown-X");
        HubConnection y = connect("/shutdown", "shutdown-Y");
        x.invoke("ShutdownServer").timeout(CALL_SECONDS, TimeUnit.SECONDS).blockingAwait();
        Throwable ex = waitClosed(x, 5);
        Throwable ey = waitClosed(y, 5);
        cleanClose(ex, "X");
        cleanClose(ey, "Y");
        check(x.getConnectionState(), HubConnectionState.DISCONNECTED, "X state");
        check(y.getConnectionState(), HubConnectionState.DISCONNECTED, "Y state");
        HubConnection late = connect(HubConnectionBuilder.create(base + "/shutdown").withTransport(transport), "late", false);
        boolean started;
        try {
            started = late.start().blockingAwait(START_SECONDS, TimeUnit.SECONDS);
        } catch (RuntimeException e) {
            started = false;
        }
        check(started, false, "a new connection to a shut-down hub fails to start");
    }

    /**
     * A graceful shutdown closes without an error: the server keeps the
     * WebSocket open until the client's close frame arrives, so the client
     * never finds the socket gone.
     */
    static void cleanClose(Throwable err, String who) {
        if (err != null) {
            throw new AssertionError(who + ": onClosed error after a graceful shutdown: " + describe(err));
        }
    }

    // ------------------------------------------------------------------
    // Helpers

    static HubConnection connect(String path, String label) throws Exception {
        return connect(HubConnectionBuilder.create(base + path).withTransport(transport), label, true);
    }

    static HubConnection connect(HttpHubConnectionBuilder builder, String label, boolean start) throws Exception {
        HubConnection c = builder.build();
        BlockingQueue<String> q = new LinkedBlockingQueue<>();
        CompletableFuture<Throwable> done = new CompletableFuture<>();
        c.on("receive", q::add, String.class);
        c.onClosed(done::complete);
        received.put(c, q);
        closed.put(c, done);
        labels.put(c, label);
        open.add(c);
        if (start && !c.start().blockingAwait(START_SECONDS, TimeUnit.SECONDS)) {
            throw new AssertionError(label + ": start() timed out");
        }
        return c;
    }

    static void stopAll() {
        for (HubConnection c : open) {
            try {
                c.stop().blockingAwait(5, TimeUnit.SECONDS);
            } catch (RuntimeException ignored) {
                // already stopped or failed; nothing to clean up
            }
        }
        open.clear();
        received.clear();
        closed.clear();
        labels.clear();
    }

    static <T> T call(HubConnection c, Class<T> cls, String method, Object... args) {
        return c.invoke(cls, method, args).timeout(CALL_SECONDS, TimeUnit.SECONDS).blockingGet();
    }

    /** Waits for a result; a failure names the step. */
    static <T> T await(Single<T> s, String what) {
        try {
            return s.timeout(CALL_SECONDS, TimeUnit.SECONDS).blockingGet();
        } catch (RuntimeException e) {
            throw new AssertionError(what + ": " + describe(e), e);
        }
    }

    static void callVoid(HubConnection c, String method, Object... args) {
        c.invoke(method, args).timeout(CALL_SECONDS, TimeUnit.SECONDS).blockingAwait();
    }

    static List<Integer> stream(HubConnection c, String method, Object... args) {
        return c.stream(Integer.class, method, args).timeout(CALL_SECONDS, TimeUnit.SECONDS).toList().blockingGet();
    }

    /** Invokes a method that must fail and returns its error text. */
    static String invokeError(HubConnection c, String method, Object... args) {
        try {
            c.invoke(Object.class, method, args).timeout(CALL_SECONDS, TimeUnit.SECONDS).blockingGet();
        } catch (com.microsoft.signalr.HubException e) {
            return e.getMessage();
        } catch (RuntimeException e) {
            throw new AssertionError(method + ": expected a HubException, got " + describe(e));
        }
        throw new AssertionError(method + " succeeded; expected an error");
    }

    /** Calls method on from, then checks that exactly the targets got the message. */
    static void delivery(HubConnection from, String method, List<HubConnection> targets, List<HubConnection> all, Object... args)
            throws Exception {
        String msg = (String) args[args.length - 1];
        callVoid(from, method, args);
        for (HubConnection c : targets) {
            check(poll(received.get(c), 5), msg, method + ": " + labels.get(c) + " receives");
        }
        // A marker to each connection, sent after the call completed: whatever
        // arrives before it was sent by the call.
        for (HubConnection c : all) {
            String marker = text("marker");
            callVoid(c, "SendToCaller", marker);
            check(poll(received.get(c), 5), marker, method + ": " + labels.get(c) + " receives nothing more");
        }
    }

    static Throwable waitClosed(HubConnection c, long seconds) throws Exception {
        try {
            return closed.get(c).get(seconds, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError(labels.get(c) + ": not closed within " + seconds + "s (state " + c.getConnectionState() + ")");
        }
    }

    static void assertConnected(HubConnection c) {
        if (c.getConnectionState() != HubConnectionState.CONNECTED) {
            Throwable why = closed.get(c).getNow(null);
            throw new AssertionError(labels.get(c) + ": state " + c.getConnectionState() + ", closed with " + describe(why));
        }
    }

    interface Check {
        Boolean get() throws Exception;
    }

    static void waitFor(Check cond, long seconds, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!Boolean.TRUE.equals(cond.get())) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(what + ": not within " + seconds + "s");
            }
            Thread.sleep(20);
        }
    }

    static <T> T poll(BlockingQueue<T> q, long seconds) throws InterruptedException {
        return q.poll(seconds, TimeUnit.SECONDS);
    }

    static void check(Object got, Object want, String what) {
        if (!Objects.equals(got, want)) {
            throw new AssertionError(what + ": got " + shorten(String.valueOf(got)) + ", want " + shorten(String.valueOf(want)));
        }
    }

    static List<Integer> range(int from, int to) {
        List<Integer> l = new ArrayList<>();
        for (int i = from; i <= to; i++) {
            l.add(i);
        }
        return l;
    }

    static String uid() {
        return UUID.randomUUID().toString().substring(0, 8);
    }

    static String text(String prefix) {
        return prefix + "-" + uid();
    }

    static String describe(Throwable t) {
        if (t == null) {
            return "no error";
        }
        String s = t.getClass().getSimpleName() + ": " + t.getMessage();
        if (t.getCause() != null && t.getCause() != t) {
            s += " (cause " + describe(t.getCause()) + ")";
        }
        return s;
    }

    static String shorten(String s) {
        return s.length() > 200 ? s.substring(0, 200) + "...(" + s.length() + " chars)" : s;
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (ch < 0x20) {
                        b.append(String.format("\\u%04x", (int) ch));
                    } else {
                        b.append(ch);
                    }
            }
        }
        return b.append('"').toString();
    }

    static void report(String name, String status, long ms, String error) {
        StringBuilder b = new StringBuilder("{\"scenario\":").append(quote(name))
                .append(",\"status\":").append(quote(status)).append(",\"ms\":").append(ms);
        if (error != null) {
            b.append(",\"error\":").append(quote(error));
        }
        System.out.println(b.append('}'));
        System.out.flush();
    }

    static String env(String name, String def) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? def : v.trim();
    }

    static String requireEnv(String name) {
        String v = env(name, "");
        if (v.isEmpty()) {
            fatal(name + " is not set");
        }
        return v;
    }

    static void fatal(String msg) {
        System.err.println("java interop: " + msg);
        System.exit(2);
    }

    // ------------------------------------------------------------------
    // The Kitchen type of the Go interop hub (interop_test.go).

    /** Nested in Kitchen. */
    public static final class Inner {
        String label;
        List<Integer> values;

        @Override
        public boolean equals(Object o) {
            return o instanceof Inner && Objects.equals(label, ((Inner) o).label) && Objects.equals(values, ((Inner) o).values);
        }

        @Override
        public int hashCode() {
            return Objects.hash(label, values);
        }

        @Override
        public String toString() {
            return "Inner{" + label + " " + values + "}";
        }
    }

    /** Every kind of argument: strings, a 53-bit integer, a float, a bool, a list, a map, nested objects. */
    public static final class Kitchen {
        String name;
        long count;
        double ratio;
        boolean ok;
        List<String> tags;
        Map<String, Integer> attrs;
        Inner inner;
        List<Inner> nested;

        static Kitchen sample() {
            Kitchen k = new Kitchen();
            k.name = "kïtchen 🍳 日本語";
            k.count = 9007199254740991L;
            k.ratio = 3.25;
            k.ok = true;
            k.tags = List.of("alpha", "βeta", "🌍");
            k.attrs = new LinkedHashMap<>();
            k.attrs.put("one", 1);
            k.attrs.put("zwei", 2);
            k.attrs.put("minus-three", -3);
            k.inner = new Inner();
            k.inner.label = "inner ✓";
            k.inner.values = List.of(1, 2, 3);
            Inner n0 = new Inner();
            n0.label = "n0";
            n0.values = List.of(0);
            Inner n1 = new Inner();
            n1.label = "n1";
            n1.values = List.of(-1, 2147483647);
            k.nested = Arrays.asList(n0, n1);
            return k;
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Kitchen)) {
                return false;
            }
            Kitchen k = (Kitchen) o;
            return Objects.equals(name, k.name) && count == k.count && ratio == k.ratio && ok == k.ok
                    && Objects.equals(tags, k.tags) && Objects.equals(attrs, k.attrs)
                    && Objects.equals(inner, k.inner) && Objects.equals(nested, k.nested);
        }

        @Override
        public int hashCode() {
            return Objects.hash(name, count, ratio, ok, tags, attrs, inner, nested);
        }

        @Override
        public String toString() {
            return "Kitchen{" + name + " " + count + " " + ratio + " " + ok + " " + tags + " " + attrs + " " + inner + " " + nested + "}";
        }
    }
}
