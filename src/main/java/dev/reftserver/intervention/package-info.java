/**
 * ReFT interventions: the six pyreft types and their math ({@link dev.reftserver.intervention.Intervention} and
 * its records), prompt positions ({@link dev.reftserver.intervention.PositionSpec}), the native
 * {@code reft-bundle/1} format, the importer for native bundles and pyreft save directories
 * ({@link dev.reftserver.intervention.BundleImporter}, with a restricted unpickler for torch files), and batched
 * application to a shared prefill batch ({@link dev.reftserver.intervention.LoadedBundle},
 * {@link dev.reftserver.intervention.InterventionPlan}). Knows nothing of HTTP or storage.
 *
 * <p>Reading order: {@code Intervention} and {@code PackedIntervention} (the math), {@code PositionSpec},
 * {@code BundleImporter} (then {@code SafeZip}, {@code NativeBundleFormat}, {@code PyreftImporter},
 * {@code TorchStateDict}, {@code RestrictedUnpickler}, {@code OrthogonalParametrization}, {@code BundleValidator}),
 * and {@code InterventionPlan}.
 */
package dev.reftserver.intervention;
