/*
 * Headers exchange matching, on encoded tables.
 */
#ifndef SERVER_HEADERS_H
#define SERVER_HEADERS_H

#include <stdbool.h>

#include "amqp/bytes.h"

/*
 * Does a message with header table msg (encoded body, may be empty) match
 * a binding with arguments args?  As RabbitMQ 3.10: x-match "all" (default),
 * "any", "all-with-x", "any-with-x"; keys starting "x-" are ignored in the
 * binding unless the -with-x variants are used; a binding value of type
 * void matches presence of the key only; otherwise the values must be equal
 * as Erlang compares them (numbers by value whatever their type, longstr
 * and byte arrays by bytes; inside nested tables and arrays the types must
 * match too).  "all" with no other keys matches everything; "any" with none
 * matches nothing.
 */
bool headers_match(struct amqp_bytes args, struct amqp_bytes msg);

/*
 * Validate a headers binding's arguments as RabbitMQ does: x-match must be
 * a longstr of one of the four values.  Returns 0, or -1 with a text for a
 * 406 PRECONDITION_FAILED ("Invalid x-match field value ...") in err.
 */
int headers_validate_args(struct amqp_bytes args, char *err, size_t errlen);

#endif
