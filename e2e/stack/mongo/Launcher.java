// Single-file launcher for the local MongoDB stand-in (mongo-java-server).
//
//   java -cp '.stack/mongo/libs/*' e2e/stack/mongo/Launcher.java [port] [host]
//
// In-memory backend with the oplog enabled, so collection-level change
// streams work. Reports server version 5.0 (wire version 8). All data lives
// in memory and is lost when the process stops.
//
// One change to the planner, so that the stand-in serves a query the way
// MongoDB does: mongo-java-server uses an index only when a query names
// exactly the index's fields (AbstractUniqueIndex.canHandle), so a filter
// {_id: X, value: V} (our metadata CAS) scanned the whole collection: 9.1 ms
// per update at 20,000 documents against 0.47 ms by _id. MongoDB serves any
// query with an _id equality from the _id index and filters the rest.
// IdIndex does the same: it finds the candidates by _id alone, and
// AbstractMongoCollection.matchDocuments then matches each candidate
// against the whole query, so results are unchanged.
//
// And one change to cursors: mongo-java-server keeps a cursor until its
// client exhausts or kills it, so every cursor of a killed client (the
// e2e suite SIGKILLs processes mid-query) stayed open for good, holding
// the documents it had still to return, deleted or not. MongoDB closes a
// cursor idle for cursorTimeoutMillis (10 minutes); CursorReaper does the
// same.
import java.lang.reflect.Field;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.ServerVersion;
import de.bwaldvogel.mongo.backend.Cursor;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.backend.memory.MemoryDatabase;
import de.bwaldvogel.mongo.backend.memory.index.MemoryUniqueIndex;
import de.bwaldvogel.mongo.bson.Document;

public class Launcher {
    public static void main(String[] args) throws Exception {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 27117;
        String host = args.length > 1 ? args[1] : "127.0.0.1";

        IdServedBackend backend = new IdServedBackend();
        CursorReaper.install(backend.cursors(), TimeUnit.MINUTES.toNanos(10));
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
            + " (memory backend, oplog enabled, _id-served queries, version " + ServerVersion.MONGO_5_0.toVersionString() + ")");
        System.out.flush();
        stopped.await();
    }
}

/** A memory backend whose collections' _id indexes are IdIndexes. */
class IdServedBackend extends MemoryBackend {
    CursorRegistry cursors() {
        return getCursorRegistry();
    }

    @Override
    public MemoryDatabase openOrCreateDatabase(String databaseName) {
        return new MemoryDatabase(databaseName, getCursorRegistry()) {
            @Override
            protected Index<Integer> openOrCreateUniqueIndex(String collectionName, String indexName, List<IndexKey> keys, boolean sparse) {
                if (keys.size() == 1 && keys.get(0).getKey().equals("_id")) {
                    return new IdIndex(indexName, keys, sparse);
                }
                return super.openOrCreateUniqueIndex(collectionName, indexName, keys, sparse);
            }
        };
    }
}

/**
 * The _id index, serving every query with an _id condition it can serve
 * alone (an equality or $in), whatever else the query names: the
 * collection matches each document found against the whole query.
 */
class IdIndex extends MemoryUniqueIndex {
    IdIndex(String name, List<IndexKey> keys, boolean sparse) {
        super(name, keys, sparse);
    }

    private static Document idPart(Document query) {
        return new Document("_id", query.get("_id"));
    }

    @Override
    public synchronized boolean canHandle(Document query) {
        if (super.canHandle(query)) {
            return true;
        }
        return query.containsKey("_id") && super.canHandle(idPart(query));
    }

    @Override
    public synchronized Iterable<Integer> getPositions(Document query) {
        if (query.size() > 1 && query.containsKey("_id")) {
            return super.getPositions(idPart(query));
        }
        return super.getPositions(query);
    }
}

/**
 * Closes the cursors of a registry that no client has used for longer than
 * an idle time, as MongoDB does (cursorTimeoutMillis). The registry keeps
 * its cursors in a private map; the reaper swaps it for one that notes
 * when each cursor was last asked for (getMore and killCursors both look
 * the cursor up), and removes the stale ones every 30 seconds.
 */
class CursorReaper extends ConcurrentHashMap<Long, Cursor> {
    private final Map<Long, Long> used = new ConcurrentHashMap<>();

    static void install(CursorRegistry registry, long idleNanos) throws ReflectiveOperationException {
        Field f = CursorRegistry.class.getDeclaredField("cursors");
        f.setAccessible(true);
        CursorReaper reaper = new CursorReaper();
        f.set(registry, reaper);
        Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "cursor-reaper");
            t.setDaemon(true);
            return t;
        }).scheduleWithFixedDelay(() -> reaper.reap(idleNanos), 30, 30, TimeUnit.SECONDS);
    }

    @Override
    public Cursor get(Object id) {
        Cursor c = super.get(id);
        if (c != null) {
            used.put((Long) id, System.nanoTime());
        }
        return c;
    }

    @Override
    public Cursor put(Long id, Cursor c) {
        used.put(id, System.nanoTime());
        return super.put(id, c);
    }

    @Override
    public Cursor remove(Object id) {
        used.remove(id);
        return super.remove(id);
    }

    private void reap(long idleNanos) {
        long now = System.nanoTime();
        int n = 0;
        for (Map.Entry<Long, Long> e : used.entrySet()) {
            if (now - e.getValue() > idleNanos && remove(e.getKey()) != null) {
                n++;
            }
        }
        if (n > 0) {
            System.out.println("cursor-reaper: closed " + n + " cursors idle for over " + TimeUnit.NANOSECONDS.toSeconds(idleNanos) + " s (" + size() + " open)");
        }
    }
}
