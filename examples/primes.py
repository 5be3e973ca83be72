def is_prime(n):
    """Whether n is a prime number."""
    if n < 2:
        return False
    for d in range(2, int(n ** 0.5) + 1):
        if n % d == 0:
            return False
    return True


def primes_below(limit):
    """The prime numbers below limit."""
    return [n for n in range(limit) if ]
