package dev.reftserver.api;

import io.swagger.v3.core.converter.ModelConverters;
import io.swagger.v3.oas.models.Components;
import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.oas.models.Operation;
import io.swagger.v3.oas.models.info.Info;
import io.swagger.v3.oas.models.media.Content;
import io.swagger.v3.oas.models.media.MediaType;
import io.swagger.v3.oas.models.media.Schema;
import io.swagger.v3.oas.models.responses.ApiResponse;
import io.swagger.v3.oas.models.security.SecurityRequirement;
import io.swagger.v3.oas.models.security.SecurityScheme;
import java.util.Map;
import org.springdoc.core.customizers.OpenApiCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import tools.jackson.databind.json.JsonMapper;

/**
 * The OpenAPI document served at {@code /v3/api-docs} (Swagger UI at {@code /swagger-ui.html}); both are open
 * without a key. Operations are described on the controllers; this adds what they share: the bearer key and the
 * OpenAI error envelope every failure answers with.
 */
@Configuration(proxyBeanMethods = false)
class OpenApiDocumentation {

    static final String BEARER = "bearer";
    static final String ERROR_EXAMPLE = """
            {"error":{"message":"The model 'summarize' does not exist","type":"invalid_request_error",\
            "param":"model","code":"model_not_found"}}""";

    @Bean
    OpenAPI reftServerOpenApi() {
        return new OpenAPI()
                .info(new Info().title("ReFT Server API").version("v1")
                        .description("""
                                One frozen base model, many ReFT intervention bundles. `/v1` is OpenAI-compatible \
                                (`/v1/models`, `/v1/completions`) plus the tenant's bundles and tasks; `/admin` \
                                manages tenants and keys. Every error has OpenAI's shape \
                                `{"error":{"message","type","param","code"}}`."""))
                .components(new Components().addSecuritySchemes(BEARER, new SecurityScheme()
                        .type(SecurityScheme.Type.HTTP).scheme("bearer")
                        .description("""
                                `Authorization: Bearer <key>`: a tenant key for `/v1`, the admin key \
                                (`reft.security.admin-key`) for `/admin`. In open single-tenant mode (no admin key, \
                                no tenants) `/v1` needs no key and acts as tenant `default`.""")))
                .addSecurityItem(new SecurityRequirement().addList(BEARER));
    }

    /** Registers {@link ErrorBody} and gives every operation it as its {@code default} response. */
    @Bean
    OpenApiCustomizer errorEnvelope(JsonMapper json) {
        Object example = json.readValue(ERROR_EXAMPLE, Map.class);
        return api -> {
            Map<String, Schema> schemas = ModelConverters.getInstance(true).readAll(ErrorBody.class);
            schemas.forEach(api.getComponents()::addSchemas);
            ApiResponse error = new ApiResponse()
                    .description("An error in OpenAI's shape; the status says which kind")
                    .content(new Content().addMediaType("application/json", new MediaType()
                            .schema(new Schema<>().$ref("#/components/schemas/ErrorBody"))
                            .example(example)));
            api.getPaths().values().forEach(path -> path.readOperations().forEach(op -> addDefault(op, error)));
        };
    }

    private static void addDefault(Operation op, ApiResponse error) {
        if (op.getResponses() != null && !op.getResponses().containsKey("default")) {
            op.getResponses().addApiResponse("default", error);
        }
    }
}
