package dev.reftserver.registry;

import java.util.regex.Pattern;

/** The naming rules of the registry. */
public final class Names {

    /** Tenant names: lowercase, digits, '-' and '_', 1 to 63 characters. */
    public static final Pattern TENANT = Pattern.compile("[a-z0-9][a-z0-9_-]{0,62}");

    /** Intervention and task names: letters, digits, '.', '_' and '-', 1 to 64 characters, never '@'. */
    public static final Pattern INTERVENTION = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    /** Ids of stored fine-tuning files and jobs; the embedded store makes file names of them. */
    public static final Pattern STORED_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]{0,127}");

    private Names() {
    }

    /** @throws IllegalArgumentException unless {@code id} follows {@link #STORED_ID} */
    public static String requireSafeId(String id) {
        if (id == null || !STORED_ID.matcher(id).matches()) {
            throw new IllegalArgumentException("not a valid stored id: " + id);
        }
        return id;
    }

    public static boolean isTenant(String s) {
        return s != null && TENANT.matcher(s).matches();
    }

    public static boolean isIntervention(String s) {
        return s != null && INTERVENTION.matcher(s).matches();
    }

    /**
     * A name from an uploaded file's name: the base name without its extension, characters outside the rule
     * replaced by '-', leading non-alphanumerics dropped, cut to 64. {@code null} if nothing usable is left.
     */
    public static String fromFileName(String fileName) {
        if (fileName == null) {
            return null;
        }
        String base = fileName.substring(Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\')) + 1);
        int dot = base.lastIndexOf('.');
        if (dot > 0) {
            base = base.substring(0, dot);
        }
        String cleaned = base.replaceAll("[^A-Za-z0-9._-]", "-").replaceFirst("^[^A-Za-z0-9]+", "");
        if (cleaned.length() > 64) {
            cleaned = cleaned.substring(0, 64);
        }
        return isIntervention(cleaned) ? cleaned : null;
    }

    /** {@code name} or {@code name@version}; the version is positive, or absent (0). */
    public record Ref(String name, int version) {

        public static Ref parse(String s) {
            if (s == null) {
                return null;
            }
            int at = s.lastIndexOf('@');
            String name = at < 0 ? s : s.substring(0, at);
            int version = 0;
            if (at >= 0) {
                String v = s.substring(at + 1);
                if (!v.matches("[1-9][0-9]{0,8}")) {
                    return null;
                }
                version = Integer.parseInt(v);
            }
            return isIntervention(name) ? new Ref(name, version) : null;
        }

        public boolean pinned() {
            return version > 0;
        }
    }
}
