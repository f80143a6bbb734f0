/*
 * XML answers (AWS, Azure Storage): the text of an element, the error
 * document's code and message, and escaping for the bodies we send.
 */
#ifndef IB_XML_H
#define IB_XML_H

#include <stddef.h>

#include <json-c/json.h>

/* 1 when built with libxml2 (else every answer reads as not XML). */
int	 xml_available(void);
/*
 * The text of the first element whose local name is name, newly
 * allocated, or NULL (not XML, or no such element).
 */
char	*xml_find(const char *data, size_t len, const char *name);
/*
 * Fills "Code: Message" of an S3 <Error>, an EC2 <Response><Errors>
 * <Error> or an Azure Storage <Error> answer into msg and the bare code
 * into code (when not NULL); 0 when the body was such an error, -1
 * otherwise.
 */
int	 xml_error(const char *data, size_t len, char *msg, size_t msglen,
	    char *code, size_t codelen);
/* Escapes text for an XML element; caller frees. */
char	*xml_escape(const char *);

/*
 * XML-RPC (Koji's hub speaks it): the methodCall document of method with
 * params (a JSON array, borrowed; objects become structs, integers int or
 * i8, null nil), newly allocated with its length in *len; NULL without
 * libxml2 or for a value XML-RPC cannot carry.
 */
char	*xml_rpc_call(const char *method, json_object *params, size_t *len);
/*
 * Reads a methodResponse: 0 with its one value in *out (new; structs as
 * objects, base64 as its text, dateTime as its text), 1 for a fault with
 * "faultCode: faultString" in fault, -1 when it is neither (fault says
 * why). At most 64 levels deep.
 */
int	 xml_rpc_answer(const char *data, size_t len, json_object **out,
	    char *fault, size_t faultlen);

#endif
