package dev.reftserver.intervention;

/** The typed torch storages a state dict may reference, as pickled by {@code torch.save} (e.g. {@code torch FloatStorage}). */
enum TorchStorageType {
    FLOAT("FloatStorage", 4, true),
    HALF("HalfStorage", 2, true),
    BFLOAT16("BFloat16Storage", 2, true),
    DOUBLE("DoubleStorage", 8, true),
    LONG("LongStorage", 8, false),
    INT("IntStorage", 4, false);

    private final String className;
    private final int elementBytes;
    private final boolean floating;

    TorchStorageType(String className, int elementBytes, boolean floating) {
        this.className = className;
        this.elementBytes = elementBytes;
        this.floating = floating;
    }

    String className() {
        return className;
    }

    int elementBytes() {
        return elementBytes;
    }

    boolean floating() {
        return floating;
    }

    /** The dtypes bundle weights may use (F32, F16, BF16). */
    boolean weightDtype() {
        return this == FLOAT || this == HALF || this == BFLOAT16;
    }

    String torchName() {
        return switch (this) {
            case FLOAT -> "torch.float32";
            case HALF -> "torch.float16";
            case BFLOAT16 -> "torch.bfloat16";
            case DOUBLE -> "torch.float64";
            case LONG -> "torch.int64";
            case INT -> "torch.int32";
        };
    }

    static TorchStorageType fromClassName(String name) {
        for (TorchStorageType t : values()) {
            if (t.className.equals(name)) {
                return t;
            }
        }
        return null;
    }
}
