package dev.reftserver.intervention;

/** Which of the prompt positions selected by a {@link PositionSpec} one intervention edits. */
public enum ApplyTo {
    FIRST("first"),
    LAST("last"),
    ALL("all");

    private final String wireName;

    ApplyTo(String wireName) {
        this.wireName = wireName;
    }

    public String wireName() {
        return wireName;
    }

    static ApplyTo fromWireName(String name, String where) {
        for (ApplyTo a : values()) {
            if (a.wireName.equals(name)) {
                return a;
            }
        }
        throw new BundleRejectedException("bundle_format",
                where + ": apply_to must be first, last or all, not '" + name + "'");
    }
}
