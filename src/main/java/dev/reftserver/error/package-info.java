/**
 * Failures every layer may raise and the API reports: {@link dev.reftserver.error.ServiceException} carries the
 * HTTP status and OpenAI error fields, so {@code engine}, {@code registry} and {@code tenant} report failures
 * without depending on the {@code api} package that maps them.
 */
package dev.reftserver.error;
