/*
 * XML answers (AWS, Azure Storage): the text of an element, the error
 * document's code and message, and escaping for the bodies we send.
 */
#ifndef IB_XML_H
#define IB_XML_H

#include <stddef.h>

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

#endif
