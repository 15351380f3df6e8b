// Single-file launcher for the local MongoDB stand-in (mongo-java-server).
//
//   java -cp '.stack/mongo/libs/*' e2e/stack/mongo/Launcher.java [port] [host]
//
// In-memory backend with the oplog enabled, so collection-level change
// streams work. Reports server version 5.0 (wire version 8). All data lives
// in memory and is lost when the process stops.
import java.util.concurrent.CountDownLatch;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.ServerVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

public class Launcher {
    public static void main(String[] args) throws Exception {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 27117;
        String host = args.length > 1 ? args[1] : "127.0.0.1";

        MemoryBackend backend = new MemoryBackend();
        backend.version(ServerVersion.MONGO_5_0);
        MongoServer server = new MongoServer(backend);
        server.enableOplog();
        server.bind(host, port);

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("mongo-java-server shutting down");
            server.shutdownNow();
            stopped.countDown();
        }, "shutdown"));

        // stack.sh waits for this exact line (plus a TCP probe).
        System.out.println("mongo-java-server ready on " + host + ":" + port
            + " (memory backend, oplog enabled, version " + ServerVersion.MONGO_5_0.toVersionString() + ")");
        System.out.flush();
        stopped.await();
    }
}
