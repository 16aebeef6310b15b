/* Model metadata strings (e.g. the chat template) for API users. */
#include "base/error.h"
#include "model/model.h"

rz_status rz_model_meta_str(const rz_model *model, const char *key, rz_str *out) {
    *out = (rz_str){0};
    if (!model || !key) return rz_error(RZ_ERR_INVALID_ARG, "model metadata: no model or key");
    if (!model->gguf)
        return rz_error(RZ_ERR_NOT_FOUND, "model metadata: '%s': the model is not a GGUF file", key);
    return rz_gguf_get_str(model->gguf, key, out);
}
