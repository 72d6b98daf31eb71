package dev.reftserver.config;

import dev.reftserver.model.ModelConfig;
import java.lang.management.ManagementFactory;
import org.springframework.util.unit.DataSize;

/**
 * The KV cache's memory budget turned into tokens, and a row's context within it.
 *
 * <p>One token of one row costs {@code 2 (K and V) x layers x kv_heads x head_dim x dtype bytes}; the budget in
 * tokens is the memory budget divided by that. The engine admits rows against it and the cache never grows past
 * it (see {@code StepPlanner} and {@code KvCache}).
 *
 * @param bytes         the memory budget
 * @param bytesPerToken what one cached position of one row costs
 * @param maxContext    positions one row may hold
 */
public record KvCacheBudget(long bytes, long bytesPerToken, int maxContext) {

    /** What {@code reft.engine.kv-cache-memory} is when unset: a quarter of the machine's physical memory. */
    public static final String DEFAULT_MEMORY = "0.25";

    /** The budget in tokens (rows x positions). */
    public long tokens() {
        return bytes / bytesPerToken;
    }

    /** Bytes one cached position of one row costs for this model at {@code dtypeBytes} per element. */
    public static long bytesPerToken(ModelConfig c, int dtypeBytes) {
        return 2L * c.numLayers() * c.numKvHeads() * c.headDim() * dtypeBytes;
    }

    /**
     * Resolves the settings for a model.
     *
     * @param memory         {@code reft.engine.kv-cache-memory}: a size ({@code 2GB}, {@code 512MB}, bytes) or a
     *     fraction in (0, 1] of {@code physicalBytes}
     * @param maxContext     {@code reft.engine.max-context}; 0 = the model's context capped to the budget
     * @param modelContext   the model's {@code max_position_embeddings}
     * @param physicalBytes  the machine's memory, which a fraction refers to
     * @throws KvBudgetException when the settings are malformed or the budget cannot hold one row of max-context
     */
    public static KvCacheBudget resolve(String memory, int maxContext, ModelConfig config, int dtypeBytes,
            long physicalBytes) {
        long bytes = parseMemory(memory, physicalBytes);
        if (bytes > physicalBytes) {
            throw new KvBudgetException("reft.engine.kv-cache-memory=" + memory + " (" + bytes + " bytes) is more "
                    + "than this machine's " + physicalBytes + " bytes of memory; lower it");
        }
        long perToken = bytesPerToken(config, dtypeBytes);
        long tokens = bytes / perToken;
        if (maxContext < 0) {
            throw new KvBudgetException("reft.engine.max-context must be positive (or 0 for the model's), got "
                    + maxContext);
        }
        if (maxContext > config.maxPositions()) {
            throw new KvBudgetException("reft.engine.max-context=" + maxContext + " exceeds the model's context of "
                    + config.maxPositions() + " positions; lower it");
        }
        int context = maxContext > 0 ? maxContext : (int) Math.min(config.maxPositions(), tokens);
        if (context < 1 || tokens < context) {
            long need = (long) Math.max(context, 1) * perToken;
            throw new KvBudgetException("reft.engine.kv-cache-memory=" + memory + " holds " + tokens + " KV tokens ("
                    + perToken + " bytes each), less than one row of reft.engine.max-context=" + Math.max(context, 1)
                    + " (" + need + " bytes); raise reft.engine.kv-cache-memory or lower reft.engine.max-context");
        }
        return new KvCacheBudget(bytes, perToken, context);
    }

    /** A size with a unit ({@code 2GB}, {@code 512MB}, {@code 1048576}) or a fraction in (0, 1] of physical memory. */
    static long parseMemory(String memory, long physicalBytes) {
        return parseMemory("reft.engine.kv-cache-memory", memory, physicalBytes);
    }

    /**
     * The memory setting {@code name}: a size with a unit ({@code 2GB}, {@code 512MB}, {@code 1048576}) or a fraction
     * in (0, 1] of physical memory.
     *
     * @throws KvBudgetException (an {@link IllegalArgumentException}) naming the setting when it is neither
     */
    public static long parseMemory(String name, String memory, long physicalBytes) {
        String v = memory == null ? "" : memory.trim();
        try {
            if (v.contains(".")) {
                double fraction = Double.parseDouble(v);
                if (!(fraction > 0 && fraction <= 1)) {
                    throw new NumberFormatException();
                }
                return (long) (fraction * physicalBytes);
            }
            long bytes = DataSize.parse(v).toBytes();
            if (bytes <= 0) {
                throw new NumberFormatException();
            }
            return bytes;
        } catch (IllegalArgumentException e) {
            throw new KvBudgetException(name + "=" + memory + " is neither a size such as 4GB or "
                    + "512MB nor a fraction of memory in (0, 1] such as 0.25");
        }
    }

    /** This machine's physical memory, or the JVM's maximum heap where the OS does not say. */
    public static long physicalMemory() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize();
        }
        return Runtime.getRuntime().maxMemory();
    }
}
