package dev.rivulet.compat;

import java.time.Duration;
import java.util.Collection;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.KafkaFuture;

/**
 * What the check programs (AdminChecks, TransactionChecks) have in common: named checks that
 * each print {@code PASS name} or {@code FAIL name: what differs}, the assertions they fail
 * with, bounded client calls, and the summary line and exit status the shell scripts read.
 */
abstract class CheckRunner {
    static final long CALL_TIMEOUT_S = 15;
    /** How long a broker may take to show what follows from a call it has already answered:
     *  Kafka applies admin changes through its metadata log, and writes transaction markers
     *  after it answers EndTxn. */
    static final Duration SETTLE = Duration.ofSeconds(10);

    interface Body {
        void run() throws Exception;
    }

    static final class CheckFailed extends Exception {
        CheckFailed(String message) {
            super(message);
        }
    }

    private int passed;
    private int failed;

    /** Runs every check, each through {@link #check}. */
    abstract void runAll();

    /** Releases the clients and removes what the checks created, whatever state they left. */
    abstract void close();

    /** Runs the checks, prints {@code SUITE: N passed, M failed (T s)} and exits, non-zero if a
     *  check failed. */
    final void runAndExit(String suite) {
        long started = System.nanoTime();
        try {
            runAll();
        } finally {
            close();
        }
        System.out.printf("%s: %d passed, %d failed (%.1f s)%n",
            suite, passed, failed, (System.nanoTime() - started) / 1e9);
        System.exit(failed == 0 ? 0 : 1);
    }

    final void check(String name, Body body) {
        try {
            body.run();
            passed++;
            System.out.println("PASS " + name);
        } catch (Throwable t) {
            failed++;
            System.out.println("FAIL " + name + ": " + describe(t));
        }
        System.out.flush();
    }

    /** One line for a FAIL: the message of a failed assertion, else the chain of causes. */
    static String describe(Throwable t) {
        if (t instanceof ExecutionException && t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof CheckFailed) {
            return t.getMessage();
        }
        StringBuilder b = new StringBuilder();
        for (Throwable c = t; c != null && b.length() < 600; c = c.getCause() == c ? null : c.getCause()) {
            if (b.length() > 0) {
                b.append(" <- ");
            }
            b.append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
        }
        return b.toString().replace('\n', ' ');
    }

    static void expect(boolean condition, String format, Object... args) throws CheckFailed {
        if (!condition) {
            throw new CheckFailed(String.format(format, args));
        }
    }

    static void expectEqual(Object expected, Object actual, String what) throws CheckFailed {
        if (!Objects.equals(expected, actual)) {
            throw new CheckFailed(what + ": expected " + expected + ", got " + actual);
        }
    }

    static <T> T get(KafkaFuture<T> future) throws Exception {
        return future.get(CALL_TIMEOUT_S, TimeUnit.SECONDS);
    }

    interface Probe<T> {
        T get() throws Exception;
    }

    /** Reads until the value satisfies the condition or the time is up; returns the last
     *  value read (the caller's assertions then report what differs). Errors of the read are
     *  retried too, since a topic just created may not be known to the broker yet. */
    static <T> T eventually(Duration within, Probe<T> probe, Predicate<T> condition) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        while (true) {
            try {
                T value = probe.get();
                if (condition.test(value) || System.nanoTime() > deadline) {
                    return value;
                }
            } catch (Exception e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
            }
            Thread.sleep(200);
        }
    }

    static <T> T eventually(Probe<T> probe, Predicate<T> condition) throws Exception {
        return eventually(SETTLE, probe, condition);
    }

    /** An admin client whose every call gives up after CALL_TIMEOUT_S. */
    static Admin adminClient(String bootstrap, String clientId) {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) TimeUnit.SECONDS.toMillis(CALL_TIMEOUT_S));
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TimeUnit.SECONDS.toMillis(CALL_TIMEOUT_S));
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, clientId);
        return Admin.create(props);
    }

    /** Deletes the checks' topics, if it can, and closes the admin client. */
    static void deleteTopicsAndClose(Admin admin, Collection<String> topics) {
        try {
            admin.deleteTopics(topics).all().get(CALL_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (Exception e) {
            // Best effort: a failed check may have left them half made.
        }
        admin.close(Duration.ofSeconds(5));
    }
}
